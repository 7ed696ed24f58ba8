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
    KNOWN_MODAL = "hypercare-known-modal"  # a lead's workaround; private_metadata: feedback id
    MERGE_MODAL = "hypercare-merge-modal"  # a lead's merge target; private_metadata: feedback id
    PLUS_ONE_DONE = "hypercare-plus-one-done"  # what the form becomes after a +1
    ROOT_CAUSE_MODAL = "hypercare-root-cause-modal"  # private_metadata: feedback id
    LESSON_MODAL = "hypercare-lesson-modal"  # a lesson: its text, kind and the items it names
    LESSON_DONE = "hypercare-lesson-done"  # what the lesson form becomes once recorded
    PULSE_COMMENT_MODAL = "hypercare-pulse-comment-modal"  # private_metadata: the pulse id
    PULSE_COMMENT_DONE = "hypercare-pulse-comment-done"  # what it becomes once recorded


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
    PLUS_ONE = "plus-one"  # "Same problem: +1" on a suggestion in the form; the value: feedback id
    MARK_KNOWN = "mark-known"  # "Mark as known issue" on a receipt; the value is the feedback id
    MERGE_INTO = "merge-into"  # "Merge into…" on a receipt; the value is the feedback id
    TAKE_ITEM = "take-item"  # "Take it" on a receipt; the value is the feedback id
    RESOLVE_ITEM = "resolve-item"  # a lead's "Resolve" on a receipt; the value: feedback id
    RECORD_ROOT_CAUSE = "record-root-cause"  # in a resolved item's thread; value: feedback id
    ADD_LESSON = "add-lesson"  # under a post-mortem draft in the thread; value: feedback id
    # 1 … 5 under a pulse: ids pulse-score-1 … pulse-score-5 (Slack wants the ids of a block's
    # buttons distinct; see `score_action`); the value is `<pulse id>:<score>`.
    PULSE_SCORE = "pulse-score"
    PULSE_COMMENT = "pulse-comment"  # "Add a comment" under a pulse; the value is the pulse id


# Blocks the form's suggestions add after the summary; every one's id starts with this, so a
# newer lookup's blocks replace an older one's.
SUGGESTION_BLOCK = "similar"
# The optional "It is one of these" choice among the suggestions (an input block: submitted
# with the form). Its id ends with the ids offered, so a new list is a new, unset choice.
SAME_AS_BLOCK = "similar-same-as"
WORKAROUND_BLOCK = "workaround"  # the known-issue modal's input
MERGE_TARGET_BLOCK = "merge-target"  # the merge modal's input


ROOT_CAUSE_BLOCK = "rca-"  # the root-cause form's inputs: rca-symptom, rca-why-1…5, rca-fix…
LESSON_BLOCK = "lesson-"  # the lesson form's inputs: lesson-text, lesson-kind, lesson-items
PULSE_BLOCK = "pulse-"  # the pulse comment form's inputs: pulse-score, pulse-comment


def score_action(score: int) -> str:
    """The action id of one number's button under a pulse (pulse-score-4)."""
    return f"{Action.PULSE_SCORE}-{score}"


def block_id(field: Field) -> str:
    """Return the input block id of a form field."""
    return field.value
