"""Demo data: realistic, deterministic CRM / ERP / ticketing exports in the landing layout."""

from orchestration.demo.generate import DemoSummary, generate_demo

__all__ = ["DemoSummary", "generate_demo"]
