"""The program file's `pulse:` section: when the satisfaction pulse goes out, to whom, and how
long its answers are taken.

Days, clock times and durations are read as in the `reports:` section (`MON`, `MON,THU`,
`10:00`, `6h`), in the program's time zone. `to:` is `channel` (channels.digest, else
channels.feedback), a channel id, or `reporters`: a DM to each person who filed (or +1'd) a
report in the last 7 days.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain import PulseAudience
from bot.oncall.program import Clock, Seconds, parse_days

DAY = 86400
DEFAULT_QUESTION = "How is the new system working for you?"
QUESTION_MAX = 300  # a question, not a questionnaire
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,20}$")
_AUDIENCES = "`channel`, a channel id like C0123ABCD, or `reporters`"


class PulseProgram(BaseModel):
    """The `pulse:` section: a 1–5 satisfaction question on some weekdays at a local time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: str = "MON"
    at: Clock = dt.time(10, 0)
    to: str = "channel"
    question: str = Field(default=DEFAULT_QUESTION, min_length=1, max_length=QUESTION_MAX)
    # A pulse missed while the bot was down is sent once, late, within this; past it, the next
    # one covers the gap (a pulse days late asks about a week people no longer remember).
    grace: Seconds = 6 * 3600
    # Answers are taken this long after it goes out, or until the next pulse, whichever is first.
    open_for: Seconds = 7 * DAY
    enabled: bool = True

    @field_validator("days")
    @classmethod
    def _days(cls, days: str) -> str:
        parse_days(days)
        return days

    @field_validator("to")
    @classmethod
    def _to(cls, to: str) -> str:
        if to in ("channel", "reporters") or _CHANNEL.match(to):
            return to
        raise ValueError(f"{to!r} is not an audience: use {_AUDIENCES}")

    @field_validator("question")
    @classmethod
    def _question(cls, question: str) -> str:
        if not question.strip():
            raise ValueError("the question is empty")
        return question.strip()

    @field_validator("grace")
    @classmethod
    def _grace(cls, grace: int) -> int:
        if grace > DAY:
            raise ValueError("at most 1d, or a late pulse would run into the next one")
        return grace

    @field_validator("open_for")
    @classmethod
    def _open_for(cls, seconds: int) -> int:
        if not 3600 <= seconds <= 14 * DAY:
            raise ValueError("give between 1h and 14d (answers are taken this long)")
        return seconds

    @property
    def weekdays(self) -> frozenset[int]:
        """The days it goes out, numbered as `date.weekday()` does (Monday is 0)."""
        return parse_days(self.days)

    @property
    def grace_period(self) -> dt.timedelta:
        """How late a missed pulse may still be sent."""
        return dt.timedelta(seconds=self.grace)

    @property
    def answer_window(self) -> dt.timedelta:
        """How long a pulse takes answers at most."""
        return dt.timedelta(seconds=self.open_for)

    @property
    def audience(self) -> PulseAudience:
        """Everyone in a channel, or each recent reporter by DM."""
        return PulseAudience.REPORTERS if self.to == "reporters" else PulseAudience.CHANNEL

    def channel(self, digest: str | None, feedback: str) -> str | None:
        """The channel asked: the one named, else the digest channel, else the feedback one;
        None for DMs to reporters."""
        if self.audience is PulseAudience.REPORTERS:
            return None
        if self.to != "channel":
            return self.to
        return digest or feedback
