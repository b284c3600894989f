"""Alert delivery: build an :class:`Alert` and :func:`deliver` it to the channels configured in
:mod:`crm_pulse.config.alerting`.

    channels = channels_from_env()
    deliver(Alert(kind="check_failed", title="...", asset="...", ...), channels,
            retries=retries_from_env())

``deliver`` never raises: a channel that is down must not fail the data run.

Modules: ``message`` (the :class:`Alert` and its renderings), ``channels`` (one class per channel),
``dispatch`` (``send`` a batch of alerts to the configured channels), ``samples`` (sample failures
for an alert: dbt test rows, check metadata, quarantine reasons). Alerts from Dagster runs are built
in orchestration/run_alerts.py.
"""

from crm_pulse.alerting.channels import (Channel, DeliveryError, DeliveryResult, DingTalkRobot,
                                         EmailChannel, FeishuBot, GenericWebhook, SlackWebhook,
                                         WeComRobot, deliver)
from crm_pulse.alerting.message import Alert

__all__ = ["Alert", "Channel", "DeliveryError", "DeliveryResult", "DingTalkRobot", "EmailChannel",
           "FeishuBot", "GenericWebhook", "SlackWebhook", "WeComRobot", "deliver"]
