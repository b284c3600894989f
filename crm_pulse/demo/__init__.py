"""Demo data: realistic, deterministic CRM / ERP / ticketing exports in the landing layout."""

from crm_pulse.demo.generate import DemoSummary, generate_demo

__all__ = ["DemoSummary", "generate_demo"]
