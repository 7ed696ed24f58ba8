"""The program file's `reports:` section: digest schedules, the planned window, exit criteria.

Clock times, weekdays and durations are read as in the `oncall:` section (`09:00`, `MON-FRI`,
`6h`). Exit criteria are a closed set of kinds, written like escalation steps: the kind as the
only key, its parameters as the value (`- no_sla_breach: {days: 5}`); a criterion without
parameters may be a bare word. Each gets a generated label for `/hypercare status`, which
`label:` overrides. Unknown kinds and keys are errors, never silently ignored: a criterion that
is quietly dropped would let a team leave hypercare on a check nobody ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bot.oncall.program import WEEKDAYS, Clock, Seconds, parse_days, parse_weekday

DAY = 86400
Days = Annotated[int, Field(ge=1, le=366)]  # a trailing window; past a year it is a typo


class _Strict(BaseModel):
    """A program-file section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _plural(count: float, unit: str) -> str:
    return f"{count:g} {unit}" + ("" if count == 1 else "s")


class _Schedule(_Strict):
    """What the daily digest and the weekly review share."""

    at: Clock
    enabled: bool = True
    top: int = Field(default=10, ge=1, le=50)  # items per section before "and N more"
    # Posted late at most this long after its time; past that, the next one covers the gap.
    grace: Seconds
    longest_grace: ClassVar[int]  # a later post would run into the next one

    @field_validator("grace")
    @classmethod
    def _grace(cls, grace: int) -> int:
        if grace > cls.longest_grace:
            days = cls.longest_grace // DAY
            raise ValueError(f"at most {days}d, or a late post would run into the next one")
        return grace

    @property
    def grace_period(self) -> dt.timedelta:
        """How late a missed post may still be made."""
        return dt.timedelta(seconds=self.grace)


class DailyDigest(_Schedule):
    """The stand-up digest: what came in, what moved, what blocks, since the previous one."""

    at: Clock = dt.time(9, 0)
    days: str = "MON-FRI"
    grace: Seconds = 6 * 3600
    longest_grace: ClassVar[int] = DAY

    @field_validator("days")
    @classmethod
    def _days(cls, days: str) -> str:
        parse_days(days)
        return days

    @property
    def weekdays(self) -> frozenset[int]:
        """The days it is posted, numbered as `date.weekday()` does (Monday is 0)."""
        return parse_days(self.days)


class WeeklyReview(_Schedule):
    """The weekly review: trends, recurring problems and the exit criteria, once a week.

    Its grace defaults to a day: a review that is a day late is still read; one that turns up
    days later covers a stale week and competes with the daily digest.
    """

    day: str = "FRI"
    at: Clock = dt.time(16, 0)
    grace: Seconds = DAY
    longest_grace: ClassVar[int] = 7 * DAY

    @field_validator("day")
    @classmethod
    def _weekday(cls, day: str) -> str:
        return WEEKDAYS[parse_weekday(day)]

    @property
    def weekdays(self) -> frozenset[int]:
        """The one day it is posted, as a set so daily and weekly schedules share one API."""
        return frozenset({parse_weekday(self.day)})


class Window(_Strict):
    """The planned hypercare window, both dates included; it gives "days left"."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("window: `end` must be after `start`")
        return self

    @property
    def length_days(self) -> int:
        """Calendar days in the window, counting both the start and the end date."""
        return (self.end - self.start).days + 1

    def days_left(self, today: dt.date) -> int:
        """Whole days from `today` to the end date: 0 on the last day, negative once overrun."""
        return (self.end - today).days

    def day_number(self, today: dt.date) -> int:
        """Which day of the window `today` is (the start date is day 1)."""
        return (today - self.start).days + 1


class _Criterion(_Strict):
    """One exit criterion; `label` is generated from the parameters unless given."""

    label: str = Field(default="", max_length=120)
    example: ClassVar[str] = "{}"  # its parameters, for error messages

    def _default_label(self) -> str:
        raise NotImplementedError

    @model_validator(mode="after")
    def _labelled(self) -> Self:
        if not self.label.strip():
            # The model is frozen; fill the one derived field while it is being built.
            object.__setattr__(self, "label", self._default_label())
        return self


class NoOpenSeverity(_Criterion):
    """No item of this severity has been open at any time in the last `days` days."""

    kind: Literal["no_open_severity"] = "no_open_severity"
    example: ClassVar[str] = "{severity: sev1, days: 7}"
    severity: str = Field(min_length=1, max_length=64)
    days: Days

    def _default_label(self) -> str:
        return f"No open {self.severity} for {_plural(self.days, 'day')}"


class NoSlaBreach(_Criterion):
    """No acknowledge or resolve SLA was breached in the last `days` days."""

    kind: Literal["no_sla_breach"] = "no_sla_breach"
    example: ClassVar[str] = "{days: 5}"
    days: Days

    def _default_label(self) -> str:
        return f"No SLA breach for {_plural(self.days, 'day')}"


class ErrorRateBelow(_Criterion):
    """The gateway error rate over the last `days` days is under `percent`."""

    kind: Literal["error_rate_below"] = "error_rate_below"
    example: ClassVar[str] = "{percent: 0.5, days: 7}"
    percent: float = Field(gt=0, le=100)
    days: Days
    source: str | None = None  # a metrics source id; may be left out when there is only one

    def _default_label(self) -> str:
        return f"Error rate under {self.percent:g}% for {_plural(self.days, 'day')}"


class P95LatencyBelow(_Criterion):
    """The gateway's 95th-percentile latency over the last `days` days is under `ms`."""

    kind: Literal["p95_latency_below"] = "p95_latency_below"
    example: ClassVar[str] = "{ms: 800, days: 7}"
    ms: int = Field(ge=1, le=3_600_000)
    days: Days
    source: str | None = None

    def _default_label(self) -> str:
        return f"p95 latency under {self.ms} ms for {_plural(self.days, 'day')}"


class MttrBelow(_Criterion):
    """Items of this severity resolved in the last `days` days took under `hours` on average."""

    kind: Literal["mttr_below"] = "mttr_below"
    example: ClassVar[str] = "{severity: sev2, hours: 8}"
    severity: str = Field(min_length=1, max_length=64)
    hours: float = Field(gt=0, le=366 * 24)
    days: Days = 7

    def _default_label(self) -> str:
        return f"MTTR for {self.severity} under {_plural(self.hours, 'hour')} (last {self.days}d)"


class OpenItemsBelow(_Criterion):
    """Fewer than `count` items (of this severity, when given) are open right now."""

    kind: Literal["open_items_below"] = "open_items_below"
    example: ClassVar[str] = "{count: 10}"
    count: int = Field(ge=1, le=100_000)
    severity: str | None = Field(default=None, min_length=1, max_length=64)

    def _default_label(self) -> str:
        which = f" {self.severity}" if self.severity else ""
        return f"Fewer than {self.count} open{which} items"


class NoUnownedItems(_Criterion):
    """Every open item has an owner (a Jira assignee or someone who took it)."""

    kind: Literal["no_unowned_items"] = "no_unowned_items"

    def _default_label(self) -> str:
        return "Every open item has an owner"


class SatisfactionAbove(_Criterion):
    """The user pulse's CSAT (share of answers of 4 or 5) is at least `percent`, over at least
    `responses` answers given in the last `days` days (or the whole window when not given)."""

    kind: Literal["satisfaction_above"] = "satisfaction_above"
    example: ClassVar[str] = "{percent: 80, responses: 10}"
    percent: float = Field(gt=0, le=100)
    responses: int = Field(ge=1, le=100_000)
    days: Days | None = None

    def _default_label(self) -> str:
        over = f"last {self.days}d" if self.days else "the window"
        return f"User satisfaction (CSAT) at least {self.percent:g}% ({over})"


ExitCriterion = Annotated[
    NoOpenSeverity
    | NoSlaBreach
    | ErrorRateBelow
    | P95LatencyBelow
    | MttrBelow
    | OpenItemsBelow
    | NoUnownedItems
    | SatisfactionAbove,
    Field(discriminator="kind"),
]
_MODELS: dict[str, type[_Criterion]] = {
    model.model_fields["kind"].default: model for model in get_args(get_args(ExitCriterion)[0])
}
KINDS = tuple(_MODELS)
_RENAMED = {"all_triaged": "no_unowned_items"}  # the wording, so the hint is exact


def _unknown(name: object) -> ValueError:
    hint = f"; did you mean {_RENAMED[name]}?" if isinstance(name, str) and name in _RENAMED else ""
    return ValueError(f"unknown exit criterion {name!r} (known: {', '.join(KINDS)}){hint}")


def _shorthand(data: Any) -> Any:
    """Read `kind`, `{kind: {params}}` or `{kind: , params...}` as `{kind: kind, **params}`."""
    if isinstance(data, str):
        if data not in KINDS:
            raise _unknown(data)
        return {"kind": data}
    if not isinstance(data, dict) or "kind" in data:
        return data
    kinds = [key for key in data if key in KINDS]
    if len(kinds) > 1:
        raise ValueError(f"one criterion per list item, not {' and '.join(kinds)}")
    if not kinds:
        names = [key for key in data if key != "label"]
        raise _unknown(names[0]) if names else ValueError("label without a criterion")
    kind = kinds[0]
    params = data[kind]
    if params is None:  # `- no_unowned_items:`, or parameters mis-indented as siblings
        params = {}
    if not isinstance(params, dict):
        example = f"- {kind}: {_MODELS[kind].example}"
        raise ValueError(f"{kind}: give its parameters as a mapping, like `{example}`")
    siblings = {key: value for key, value in data.items() if key != kind}
    if twice := sorted(params.keys() & siblings.keys()):
        raise ValueError(f"{kind}: {', '.join(twice)} given twice")
    return {"kind": kind, **params, **siblings}


class ReportsProgram(_Strict):
    """The `reports:` section: when digests go out, the planned window, when hypercare ends."""

    daily: DailyDigest = Field(default_factory=DailyDigest)
    weekly: WeeklyReview = Field(default_factory=WeeklyReview)
    # Defaults to the program's go_live … planned_end; give it to plan a different window.
    window: Window | None = None
    exit_criteria: tuple[Annotated[ExitCriterion, BeforeValidator(_shorthand)], ...] = Field(
        default=(), max_length=20
    )

    @model_validator(mode="after")
    def _distinct_labels(self) -> Self:
        seen: set[str] = set()
        for criterion in self.exit_criteria:
            if criterion.label in seen:
                raise ValueError(
                    f"exit_criteria: two criteria are labelled {criterion.label!r} "
                    "(remove the duplicate or give one a different label)"
                )
            seen.add(criterion.label)
        return self


def report_problems(
    reports: ReportsProgram,
    severities: Collection[str],
    *,
    metric_sources: Collection[str] | None = None,
    window: Window | None = None,
    pulse: bool | None = None,
) -> list[str]:
    """Check the reports section against the rest of the program; one message per problem.

    `metric_sources` are the metrics section's source ids (empty without a metrics section);
    `pulse` whether the program has a `pulse:` section. None skips those checks, for callers
    that validate the section on its own.
    """
    problems = []
    window = reports.window or window
    for index, criterion in enumerate(reports.exit_criteria):
        where = f"reports.exit_criteria[{index}] ({criterion.label})"
        rated = NoOpenSeverity | MttrBelow | OpenItemsBelow
        severity = criterion.severity if isinstance(criterion, rated) else None
        if severity is not None and severity not in severities:
            problems.append(f"{where}: unknown severity {severity!r}")
        # A streak longer than the whole window cannot be met by its end (MTTR's `days` is only
        # the span it averages over, so it may be longer).
        streak = NoOpenSeverity | NoSlaBreach | ErrorRateBelow | P95LatencyBelow
        if window and isinstance(criterion, streak) and criterion.days > window.length_days:
            problems.append(
                f"{where}: needs {criterion.days} days in a row, but the window is only "
                f"{window.length_days} days long, so it cannot be met by its end"
            )
        if isinstance(criterion, ErrorRateBelow | P95LatencyBelow) and metric_sources is not None:
            problems += _source_problems(where, criterion.source, metric_sources)
        if isinstance(criterion, SatisfactionAbove) and pulse is False:
            problems.append(
                f"{where}: reads the user pulse's answers, but there is no pulse section"
            )
    return problems


def _source_problems(where: str, source: str | None, known: Collection[str]) -> list[str]:
    if not known:
        return [f"{where}: reads gateway metrics, but there is no metrics section"]
    if source is None and len(known) > 1:
        return [f"{where}: several metrics sources, name one with source: ({', '.join(known)})"]
    if source is not None and source not in known:
        return [f"{where}: unknown metrics source {source!r} (known: {', '.join(known)})"]
    return []
