"""The user pulse: send the question on its schedule (or now, for a lead), take 1–5 answers and
comments, and read satisfaction back.

Sending is one transaction: the pulse row (its key unique per scheduled local date, so replicas
racing for a due slot send it once), the closing of the pulse before it, and one outbox row per
post (the channel, or each reporter's DM), retried while Slack fails. Answers are taken while
the pulse is open: `pulse.open_for` after it went out, or until the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.config import Program
from bot.domain import (
    Effect,
    Pulse,
    PulseAnswer,
    PulseAudience,
    Satisfaction,
    SatisfactionTrend,
    SatisfactionWeek,
)
from bot.ports import Clock, PulseNotifier
from bot.reports.schedule import due_slot
from storage.pulse import NewPulse, PulseRepository, Vote

log = logging.getLogger(__name__)

POST_PULSE = "pulse.post"
SCORES = (1, 2, 3, 4, 5)
COMMENT_MAX = 1000  # a few sentences; the pulse is a quick question, not a survey
REPORTERS_WITHIN = dt.timedelta(days=7)  # `to: reporters` asks who reported in the last week
TREND_SPAN = dt.timedelta(days=7)  # `/hypercare status`: the last 7 days against the 7 before
# `/hypercare pulse` right after a pulse went out is most likely a double send; with `to:
# reporters` it would DM every reporter twice.
RESEND_AFTER = dt.timedelta(hours=1)
COMMENTS_SHOWN = 20  # `/hypercare pulse comments` (leads): the newest, then "and N more"
COMMENTS_WITHIN = dt.timedelta(days=30)


class VoteOutcome(StrEnum):
    """What became of a press of a number (or a submitted comment)."""

    RECORDED = "recorded"  # the person's first answer to this pulse
    CHANGED = "changed"  # another number than before: the answer is updated
    SAME = "same"  # the number they had given already: nothing changes
    CLOSED = "closed"  # the pulse takes no more answers: nothing is stored
    UNKNOWN = "unknown"  # no such pulse (or a malformed button): nothing is stored


@dataclass(frozen=True)
class VoteResult:
    """A vote's outcome, with the pulse, the score now stored and the one it replaced."""

    outcome: VoteOutcome
    pulse: Pulse | None = None
    score: int | None = None
    previous: int | None = None
    commented: bool = False


class SendOutcome(StrEnum):
    """What became of a lead's `/hypercare pulse`."""

    SENT = "sent"
    NOT_LEAD = "not_lead"
    NOT_SET_UP = "not_set_up"  # no `pulse:` section
    TOO_SOON = "too_soon"  # the last pulse went out less than RESEND_AFTER ago
    NOBODY = "nobody"  # `to: reporters` and nobody reported in the last 7 days


@dataclass(frozen=True)
class SendResult:
    """A send's outcome; `pulse` is the one sent, or the latest one when it was too soon."""

    outcome: SendOutcome
    pulse: Pulse | None = None


class CommentField(StrEnum):
    """The fields of the comment form; problems are keyed by these."""

    SCORE = "score"
    COMMENT = "comment"


@dataclass(frozen=True)
class CommentForm:
    """What someone entered in the comment form (user text), and the pulse it answers."""

    pulse_id: int | None
    score: str
    comment: str


class PulseService:
    """Sends pulses, records answers and reads the satisfaction figures."""

    def __init__(
        self,
        *,
        program: Program,
        repo: PulseRepository,
        clock: Clock,
        notifier: PulseNotifier | None = None,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._program = program
        self._repo = repo
        self._clock = clock
        self._notifier = notifier
        self._on_enqueued = on_enqueued

    @property
    def enabled(self) -> bool:
        """Whether the program has a `pulse:` section."""
        return self._program.pulse is not None

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {POST_PULSE: self._post}

    # -- sending --------------------------------------------------------------------------------

    def post_due(self) -> bool:
        """Send the scheduled pulse if its slot is due; True when this call sent it."""
        section = self._program.pulse
        if section is None or not section.enabled:
            return False
        now = self._clock()
        due = due_slot(section, self._program.zone, now, section.grace_period)
        if due is None:
            return False
        key = f"scheduled:{due.key}"
        if self._repo.exists(key):  # the common case every tick after it went out: no writes
            return False
        pulse = self._send(key, None, now)
        if pulse is None:
            return False
        log.info("pulse %s for %s sent%s", pulse.id, due.key, " (late)" if due.late else "")
        return True

    def send_now(self, user: str) -> SendResult:
        """A lead's `/hypercare pulse`: send the pulse now, to the program's audience."""
        if not self._program.is_lead(user):
            return SendResult(SendOutcome.NOT_LEAD)
        if self._program.pulse is None:
            return SendResult(SendOutcome.NOT_SET_UP)
        now = self._clock()
        latest = self._repo.latest()
        asked = latest is not None and (
            latest.audience is PulseAudience.CHANNEL or latest.recipients > 0
        )
        if latest is not None and asked and now - latest.created_at < RESEND_AFTER:
            return SendResult(SendOutcome.TOO_SOON, latest)
        pulse = self._send(f"now:{now.isoformat()}:{user}", user, now)
        if pulse is None or (pulse.audience is PulseAudience.REPORTERS and not pulse.recipients):
            return SendResult(SendOutcome.NOBODY)
        log.info("pulse %s sent now by a lead", pulse.id)
        return SendResult(SendOutcome.SENT, pulse)

    def _send(self, key: str, user: str | None, now: dt.datetime) -> Pulse | None:
        """Store the pulse and queue its posts; None when the key was taken (or, sent now, when
        there is nobody to ask)."""
        section = self._program.pulse
        assert section is not None
        channels = self._program.channels
        channel = section.channel(channels.digest, channels.feedback)
        recipients: tuple[str, ...] = ()
        if section.audience is PulseAudience.REPORTERS:
            recipients = tuple(self._repo.reporters(now - REPORTERS_WITHIN, now))
            if not recipients:
                log.info("pulse %s: nobody reported in the last 7 days, nobody asked", key)
                if user is not None:
                    return None  # a lead is told; a scheduled slot is stored as asked nobody
        new = NewPulse(
            key=key,
            question=section.question,
            audience=section.audience,
            channel_id=channel,
            recipients=recipients,
            created_by=user,
            created_at=now,
            closes_at=now + section.answer_window,
        )

        def posts(pulse: Pulse) -> list[Effect]:
            targets = recipients if pulse.audience is PulseAudience.REPORTERS else (channel,)
            return [
                Effect(POST_PULSE, {"pulse": pulse.id, "to": to}, f"{POST_PULSE}:{pulse.id}:{to}")
                for to in targets
                if to is not None
            ]

        pulse = self._repo.create(new, posts)
        if pulse is not None:
            self._on_enqueued()
        return pulse

    def _post(self, payload: dict[str, object]) -> Sequence[Effect]:
        pulse = self._repo.get(int(str(payload["pulse"])))
        if pulse is None or self._notifier is None:
            return []
        if not pulse.is_open(self._clock()):
            # Slack was down for longer than the pulse was open: buttons would only say closed.
            log.info("pulse %s closed before it could be posted; not posted", pulse.id)
            return []
        self._notifier.post_pulse(str(payload["to"]), pulse)
        return []

    # -- answering ------------------------------------------------------------------------------

    def vote(self, pulse_id: int | None, user: str, score: int | None) -> VoteResult:
        """Record (or change) a person's score; nothing changes on an unknown or closed pulse."""
        if pulse_id is None or score not in SCORES:
            return VoteResult(VoteOutcome.UNKNOWN)
        return self._result(self._repo.vote(pulse_id, user, score, self._clock()))

    def _result(self, stored: Pulse | Vote | None, commented: bool = False) -> VoteResult:
        if stored is None:
            return VoteResult(VoteOutcome.UNKNOWN)
        if isinstance(stored, Pulse):
            return VoteResult(VoteOutcome.CLOSED, stored)
        score = stored.answer.score
        if stored.previous is None:
            outcome = VoteOutcome.RECORDED
        elif stored.previous == score:
            outcome = VoteOutcome.SAME
        else:
            outcome = VoteOutcome.CHANGED
        return VoteResult(outcome, stored.pulse, score, stored.previous, commented)

    def comment_form(
        self, pulse_id: int | None, user: str
    ) -> tuple[Pulse, PulseAnswer | None] | VoteResult:
        """For *Add a comment*: the pulse and the presser's answer so far (the form starts from
        it), or why it takes no comment (unknown or closed)."""
        pulse = self._repo.get(pulse_id) if pulse_id is not None else None
        if pulse is None:
            return VoteResult(VoteOutcome.UNKNOWN)
        if not pulse.is_open(self._clock()):
            return VoteResult(VoteOutcome.CLOSED, pulse)
        return pulse, self._repo.answer(pulse.id, user)

    def answer_of(self, pulse_id: int, user: str) -> PulseAnswer | None:
        """A person's answer to a pulse so far."""
        return self._repo.answer(pulse_id, user)

    def comment(
        self, form: CommentForm, user: str
    ) -> tuple[VoteResult | None, dict[CommentField, str]]:
        """Store a score with a comment, or say what is wrong with the form, by field."""
        problems: dict[CommentField, str] = {}
        comment = form.comment.strip()
        if not comment:
            problems[CommentField.COMMENT] = "Please write your comment (or close the form)."
        elif len(comment) > COMMENT_MAX:
            problems[CommentField.COMMENT] = (
                f"Please keep your comment under {COMMENT_MAX:,} characters "
                f"(this one has {len(comment):,})."
            )
        score = int(form.score) if form.score in {str(s) for s in SCORES} else None
        if score is None:
            problems[CommentField.SCORE] = "Please choose a number from 1 to 5."
        if problems:
            return None, problems
        assert score is not None
        if form.pulse_id is None:
            stored = None
        else:
            stored = self._repo.vote(form.pulse_id, user, score, self._clock(), comment)
        result = self._result(stored, commented=True)
        if result.outcome is VoteOutcome.UNKNOWN:
            return None, {CommentField.COMMENT: "I know no such pulse: nothing was recorded."}
        if result.outcome is VoteOutcome.CLOSED:
            return None, {
                CommentField.COMMENT: "This pulse has closed: your answer was not recorded."
            }
        return result, {}

    # -- reading --------------------------------------------------------------------------------

    def satisfaction(self, start: dt.datetime, end: dt.datetime) -> Satisfaction:
        """The answers first given in (start, end]."""
        return self._repo.satisfaction(start, end)

    def weekly_satisfaction(self, start: dt.datetime, end: dt.datetime) -> list[SatisfactionWeek]:
        """The answers of (start, end] in weeks from `start` (see the repository)."""
        return self._repo.weekly_satisfaction(start, end)

    def trend(self) -> SatisfactionTrend:
        """The last 7 days' answers against the 7 days before (`/hypercare status`)."""
        now = self._clock()
        since = now - TREND_SPAN
        return SatisfactionTrend(
            current=self._repo.satisfaction(since, now),
            previous=self._repo.satisfaction(since - TREND_SPAN, since),
            since=since,
            until=now,
        )

    def latest(self) -> Pulse | None:
        """The pulse sent last."""
        return self._repo.latest()

    def comments(self, user: str) -> tuple[list[PulseAnswer], int] | None:
        """A lead's private read of the last 30 days' comments, newest first; None for others
        (comments are never shown in public, only counted)."""
        if not self._program.is_lead(user):
            return None
        now = self._clock()
        return self._repo.comments(now - COMMENTS_WITHIN, now, COMMENTS_SHOWN)
