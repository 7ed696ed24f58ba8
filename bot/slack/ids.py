"""Every Slack identifier the bot uses, spelled once."""

from __future__ import annotations

from enum import StrEnum

from bot.domain import Field

COMMAND = "/hypercare"


class Callback(StrEnum):
    """View and shortcut callback ids."""

    FEEDBACK_MODAL = "hypercare-feedback-modal"
    REPORT_MESSAGE = "report_to_hypercare"  # also in slack-manifest.yaml
    SILENCE_MODAL = "hypercare-silence-modal"


class Action(StrEnum):
    """Action ids of interactive elements."""

    INPUT = "input"  # every input block holds one element; the block id names the field
    CREATE_TICKET = "create-ticket"  # also "Retry ticket"; the value is the feedback id
    ACK_ALERT = "ack-alert"  # the value is the alert id
    SILENCE_ALERT = "silence-alert"  # the value is the alert id
    END_SILENCE = "end-silence"  # the value is the rule id
    ALERT_TICKET = "alert-ticket"  # the value is the alert id
    ACK_ITEM = "ack-item"  # Acknowledge on a page or receipt; the value is `feedback:12`/`alert:5`
    ACK_GROUP = "ack-group"  # Acknowledge all on a grouped page DM; the value is the group's id


def block_id(field: Field) -> str:
    """Return the input block id of a form field."""
    return field.value
