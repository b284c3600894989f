"""Shared fixtures: one real pipeline run on a small generated dataset per test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

from crm_pulse.demo import generate_demo  # noqa: E402
from tests.harness import TEST_CUSTOMERS, TEST_SEED, PipelineRun, run_pipeline  # noqa: E402


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory):
    """Demo exports (small, deterministic); treat as read-only: copy it before changing files."""
    landing = tmp_path_factory.mktemp("landing")
    generate_demo(landing, customers=TEST_CUSTOMERS, seed=TEST_SEED)
    return landing


@pytest.fixture(scope="session")
def demo_run(demo_landing, tmp_path_factory) -> PipelineRun:
    """The whole pipeline, run once on the demo exports; read its outputs, do not modify them."""
    run = run_pipeline(demo_landing, tmp_path_factory.mktemp("warehouse"), CRM_PULSE_REPORT_PDF="auto")
    assert run.exit_code == 0, run.output
    return run


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Loopback servers in tests must be reached directly, whatever proxy the machine sets."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1 collecting messages (tests/local_servers.py)."""
    from tests.local_servers import running_smtp

    with running_smtp() as mailbox:
        yield mailbox
