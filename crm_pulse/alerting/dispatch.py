"""Send alerts: every alert to every configured channel (crm_pulse/config/alerting.py), with bounded
retries; a channel that is down is logged, never raised (it must not fail the data run)."""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

from crm_pulse.alerting.channels import Channel, DeliveryResult, deliver
from crm_pulse.alerting.message import Alert
from crm_pulse.config.alerting import channels_from_env, retries_from_env

_LOG = logging.getLogger("crm_pulse.alerting")


def send(alerts: Iterable[Alert], channels: Sequence[Channel] | None = None, retries: int | None = None,
         logger: logging.Logger | None = None) -> list[tuple[Alert, list[DeliveryResult]]]:
    """Deliver each alert to every channel (bounded retries); never raises, logs failures."""
    log = logger or _LOG
    sent = []
    try:
        channels = channels_from_env() if channels is None else channels
        retries = retries_from_env() if retries is None else retries
    except ValueError as exc:
        log.error("alerting is misconfigured, no alert sent: %s", exc)
        return [(alert, []) for alert in alerts]
    for alert in alerts:
        if not channels:
            log.warning("no alert channel configured; would have sent: %s", alert.title)
            sent.append((alert, []))
            continue
        results = deliver(alert, channels, retries=retries, logger=log)
        for result in results:
            if result.ok:
                log.info("alert %r sent to %s", alert.title, result.channel)
        sent.append((alert, results))
    return sent


def describe_results(sent: list[tuple[Alert, list[DeliveryResult]]]) -> str:
    """One line on what :func:`send` did (alerts, deliveries ok, the first failures)."""
    ok = sum(1 for _, results in sent for r in results if r.ok)
    failed = [f"{r.channel}: {r.error}" for _, results in sent for r in results if not r.ok]
    text = f"{len(sent)} alert(s), {ok} delivery(ies) ok"
    return text + (f", {len(failed)} failed ({'; '.join(failed[:3])})" if failed else "")
