"""Alert delivery: build an :class:`Alert`, pick channels from the environment, :func:`deliver`.

    channels = channels_from_env()
    deliver(Alert(kind="check_failed", title="...", asset="...", ...), channels,
            retries=retries_from_env())

``deliver`` never raises: a channel that is down must not fail the data run.
"""

from orchestration.alerting.channels import (Channel, DeliveryError, DeliveryResult, DingTalkRobot,
                                             EmailChannel, FeishuBot, GenericWebhook, SlackWebhook,
                                             WeComRobot, deliver)
from orchestration.alerting.config import channels_from_env, retries_from_env
from orchestration.alerting.message import Alert

__all__ = ["Alert", "Channel", "DeliveryError", "DeliveryResult", "DingTalkRobot", "EmailChannel",
           "FeishuBot", "GenericWebhook", "SlackWebhook", "WeComRobot", "channels_from_env", "deliver",
           "retries_from_env"]
