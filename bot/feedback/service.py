"""Feedback intake: validate a draft, store it, and queue what must follow."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence

from bot.config import Choice, Program
from bot.domain import Effect, Feedback, FeedbackDraft, Field, Submission
from bot.errors import DeliveryRefused, InvalidFeedback
from bot.parts import delivery_attempt
from bot.ports import Clock, Notifier
from storage.repositories import FeedbackRepository

log = logging.getLogger(__name__)

SUMMARY_MAX = 150
TEXT_MAX = 3000
ENDPOINT_MAX = 300
CORRELATION_MAX = 200

POST_RECEIPT = "feedback.post_receipt"
REPLY_TO_SOURCE = "feedback.reply_to_source"
CONFIRM_TO_REPORTER = "feedback.confirm_to_reporter"
TELL_REPORTER_OF_FAILURE = "feedback.tell_reporter_of_failure"

# Bidi overrides and zero-width characters can disguise a summary (Trojan Source).
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def clean_summary(text: str) -> str:
    """Make a summary one readable line: NFC, no control or invisible characters."""
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(text.split())


def summary_from_text(text: str) -> str:
    """Derive a summary from free text (a Slack message): its first line, shortened."""
    first = clean_summary(text.strip().splitlines()[0] if text.strip() else "")
    return first if len(first) <= SUMMARY_MAX else first[: SUMMARY_MAX - 1].rstrip() + "…"


def validate(draft: FeedbackDraft, program: Program) -> dict[Field, str]:
    """Return every problem with a draft, by field; empty when it is fine."""
    problems: dict[Field, str] = {}
    if not draft.summary.strip():
        problems[Field.SUMMARY] = "Please give the problem a short summary."
    elif len(draft.summary) > SUMMARY_MAX:
        problems[Field.SUMMARY] = f"Keep the summary under {SUMMARY_MAX} characters."
    choices: dict[Field, tuple[str, Sequence[Choice]]] = {
        Field.CATEGORY: (draft.category, program.categories),
        Field.SEVERITY: (draft.severity, program.severities),
        Field.COMPONENT: (draft.component, program.components),
        Field.ENVIRONMENT: (draft.environment, program.environments),
    }
    for field, (value, options) in choices.items():
        if not value:
            problems[field] = "Please pick one."
        elif value not in {o.id for o in options}:
            problems[field] = "That is not one of the options; please pick again."
    if not draft.actual.strip():
        problems[Field.ACTUAL] = "Please describe what happened."
    for field, text in ((Field.TRYING, draft.trying), (Field.EXPECTED, draft.expected)):
        if len(text) > TEXT_MAX:
            problems[field] = f"Please shorten this to {TEXT_MAX} characters."
    if len(draft.actual) > TEXT_MAX:
        problems[Field.ACTUAL] = f"Please shorten this to {TEXT_MAX} characters."
    if draft.api_endpoint and len(draft.api_endpoint) > ENDPOINT_MAX:
        problems[Field.API_ENDPOINT] = f"Keep the endpoint under {ENDPOINT_MAX} characters."
    if draft.correlation_id and (
        len(draft.correlation_id) > CORRELATION_MAX
        or any(c.isspace() for c in draft.correlation_id)
    ):
        problems[Field.CORRELATION_ID] = "A correlation id is one token without spaces."
    if not draft.channel_id:
        problems[Field.CHANNEL] = "Please pick a channel to post into."
    return problems


class FeedbackService:
    """Capture hypercare feedback and queue its announcements."""

    def __init__(
        self,
        *,
        repo: FeedbackRepository,
        program: Program,
        clock: Clock,
        on_enqueued: Callable[[], None] = lambda: None,
        follow_ups: Callable[[str], Sequence[Effect]] = lambda severity: (),
    ) -> None:
        self._repo = repo
        self._program = program
        self._clock = clock
        self._on_enqueued = on_enqueued
        self._follow_ups = follow_ups  # e.g. a Jira ticket for severities that open one at once

    def problems(self, draft: FeedbackDraft) -> dict[Field, str]:
        """Return what is wrong with a draft, by field."""
        return validate(draft, self._program)

    def submit(self, draft: FeedbackDraft) -> Submission:
        """Store valid feedback and its receipt post in one transaction; dedup resubmits."""
        if problems := validate(draft, self._program):
            raise InvalidFeedback(problems)
        post = Effect(POST_RECEIPT, {}, POST_RECEIPT + ":{feedback_id}")
        submission = self._repo.add(draft, self._clock(), [post, *self._follow_ups(draft.severity)])
        if submission.created:
            log.info("feedback %s stored", submission.feedback.short_id)
            self._on_enqueued()
        else:
            log.info("duplicate submission for %s ignored", submission.feedback.short_id)
        return submission

    def get(self, feedback_id: int) -> Feedback | None:
        """Return one feedback."""
        return self._repo.get(feedback_id)

    def audit_trail(self, feedback_id: int) -> list[tuple[str, str, dict[str, object]]]:
        """Return who did what to one feedback, oldest first."""
        return self._repo.audit_trail(feedback_id)

    def count(self) -> int:
        """Count stored feedback."""
        return self._repo.count()


def feedback_of(repo: FeedbackRepository, payload: dict[str, object]) -> Feedback:
    """Load the feedback an outbox payload is about; refuse for good if it is gone."""
    feedback_id = payload["feedback_id"]
    if not isinstance(feedback_id, int):
        raise DeliveryRefused(f"outbox payload has no feedback id: {feedback_id!r}")
    feedback = repo.get(feedback_id)
    if feedback is None:
        raise DeliveryRefused(f"feedback {feedback_id} does not exist")
    return feedback


class FeedbackAnnouncer:
    """Carries out the feedback side effects the outbox worker hands over."""

    def __init__(self, *, repo: FeedbackRepository, notifier: Notifier, clock: Clock) -> None:
        self._repo = repo
        self._notifier = notifier
        self._clock = clock

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {
            POST_RECEIPT: self.post_receipt,
            REPLY_TO_SOURCE: self.reply_to_source,
            CONFIRM_TO_REPORTER: self.confirm_to_reporter,
            TELL_REPORTER_OF_FAILURE: self.tell_reporter_of_failure,
        }

    def _feedback(self, payload: dict[str, object]) -> Feedback:
        return feedback_of(self._repo, payload)

    def post_receipt(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Post the receipt, remember it as the home thread, then queue the follow-ups."""
        feedback = self._feedback(payload)
        if feedback.receipt_ts:
            return []  # posted before a crash; the follow-ups were queued with it
        if feedback.source and not feedback.source.permalink:
            link = self._notifier.permalink(feedback.source.channel_id, feedback.source.ts)
            if link:
                self._repo.record_source_permalink(feedback.id, link)
                feedback = self._feedback(payload)
        found = self._notifier.find_receipt(feedback) if delivery_attempt.get() > 1 else None
        if found is not None:
            # An earlier try posted it and died before recording it: adopt, do not post twice.
            log.info("receipt of %s found in Slack: adopted", feedback.short_id)
        try:
            posted = found or self._notifier.post_receipt(feedback)
        except DeliveryRefused as refused:
            key = f"{TELL_REPORTER_OF_FAILURE}:{feedback.id}"
            tell = Effect(TELL_REPORTER_OF_FAILURE, {**payload, "reason": refused.reason}, key)
            raise DeliveryRefused(refused.reason, then=[tell]) from None
        follow = [Effect(CONFIRM_TO_REPORTER, payload, f"{CONFIRM_TO_REPORTER}:{feedback.id}")]
        if feedback.source:
            follow.append(Effect(REPLY_TO_SOURCE, payload, f"{REPLY_TO_SOURCE}:{feedback.id}"))
        self._repo.record_receipt(feedback.id, posted.ts, posted.permalink, self._clock(), follow)
        return []

    def reply_to_source(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Reply in the original message's thread with a link to the feedback."""
        self._notifier.reply_to_source(self._feedback(payload))
        return []

    def confirm_to_reporter(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Confirm privately to the reporter."""
        self._notifier.confirm_to_reporter(self._feedback(payload))
        return []

    def tell_reporter_of_failure(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Tell the reporter why the receipt could not be posted."""
        self._notifier.tell_reporter_of_failure(self._feedback(payload), str(payload["reason"]))
        return []
