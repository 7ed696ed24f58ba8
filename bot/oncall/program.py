"""The program file's `oncall:` and `escalation:` sections.

Durations are whole seconds (`900`) or a number with units (`90s`, `15m`, `4h`, `1d`, `1h30m`);
clock times are `HH:MM` in the program's time zone. People are Slack user ids (U012AB3CD) or
e-mail addresses (looked up in Slack by the caller); e-mails are lower-cased so one person is
never two.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # index = date.weekday()
MAX_DURATION = 366 * 86400  # past a year it is a typo, and datetime arithmetic would overflow
MAX_REPEATS = 9  # PagerDuty's limit: more rounds than this only trains people to ignore pages

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USER_GROUP = r"^S[A-Z0-9]{2,20}$"
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_duration(value: object) -> int:
    """Read a duration as whole seconds: an int, or a string like `90s`, `15m`, `4h`, `1h30m`."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and value.strip() and (match := _DURATION.match(value.strip())):
        days, hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        raise ValueError(
            f"{value!r} is not a duration: give seconds (900) or a number with units "
            "(90s, 15m, 4h, 1d, 1h30m)"
        )
    if not 0 < seconds <= MAX_DURATION:
        raise ValueError(f"{value!r}: a duration must be more than 0 and at most 366 days")
    return seconds


def parse_clock(value: object) -> dt.time:
    """Read an `HH:MM` clock time."""
    if isinstance(value, dt.time):
        return value
    # YAML 1.1 reads an unquoted 17:00 as the base-60 integer 1020: take it as the time meant.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return dt.time(value // 60, value % 60)
    if isinstance(value, str) and (match := _CLOCK.match(value.strip())):
        return dt.time(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"{value!r} is not a clock time: use HH:MM, like 09:00 or 17:30")


def parse_weekday(name: str) -> int:
    """Read a three-letter weekday (MON … SUN) as `date.weekday()` numbers it."""
    try:
        return WEEKDAYS.index(name.strip().upper())
    except ValueError:
        raise ValueError(f"{name!r} is not a weekday: use {', '.join(WEEKDAYS)}") from None


def parse_days(spec: str) -> frozenset[int]:
    """Read days like `MON-FRI`, `MON,WED,FRI` or `SUN-THU` (ranges may wrap past Sunday)."""
    days: set[int] = set()
    for part in spec.split(","):
        first, dash, last = part.partition("-")
        start = parse_weekday(first)
        end = parse_weekday(last) if dash else start
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset(days)


def _person(value: object) -> str:
    if isinstance(value, str):
        if _SLACK_USER.match(value):
            return value
        if _EMAIL.match(value):
            return value.lower()
    raise ValueError(f"{value!r} is neither a Slack user id (like U012AB3CD) nor an e-mail")


Seconds = Annotated[int, BeforeValidator(parse_duration)]


def _duration_or_off(value: object) -> int:
    """A duration, or 0 (`0`, `0s`, `off`) for "never"."""
    if value in (0, "0", "0s", "off") or value is False:
        return 0
    return parse_duration(value)


SecondsOrOff = Annotated[int, BeforeValidator(_duration_or_off)]
Clock = Annotated[dt.time, BeforeValidator(parse_clock)]
Person = Annotated[str, BeforeValidator(_person)]


class _Strict(BaseModel):
    """A program-file section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BusinessHours(_Strict):
    """When a person covers: some days, from one local time to a later one the same day."""

    days: str = "MON-FRI"
    from_: Clock = Field(alias="from")
    to: Clock

    @model_validator(mode="after")
    def _sane(self) -> Self:
        parse_days(self.days)
        if self.to <= self.from_:
            raise ValueError("business hours: `to` must be later than `from` the same day")
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        """The covered weekdays, numbered as `date.weekday()` does (Monday is 0)."""
        return parse_days(self.days)


class Override(_Strict):
    """Someone covers a rota from one moment to another; without an offset, local time."""

    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    who: Person

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if (self.from_.tzinfo is None) != (self.to.tzinfo is None):
            raise ValueError("override: give both `from` and `to` with an offset, or neither")
        if self.to <= self.from_:
            raise ValueError("override: `to` must be later than `from`")
        return self


class RotaConfig(_Strict):
    """A rotation of people: who is on call when, hand-off rules, hours and overrides."""

    id: str = Field(pattern=_ID)
    members: tuple[Person, ...] = Field(min_length=1, max_length=100)
    rotation: Literal["weekly", "daily"] = "weekly"
    handoff: str  # weekly: "MON 09:00"; daily: "09:00"
    start: dt.date  # the first shift begins at the hand-off time on this date
    business_hours: dict[Person, BusinessHours] = Field(default_factory=dict)
    overrides: tuple[Override, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _yaml_clock(cls, data: Any) -> Any:
        # A daily `handoff: 10:30` arrives from YAML as the integer 630 (see parse_clock).
        if isinstance(data, dict) and isinstance(data.get("handoff"), int):
            return {**data, "handoff": parse_clock(data["handoff"]).strftime("%H:%M")}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        weekday_name, _, clock = self.handoff.strip().rpartition(" ")
        parse_clock(clock)
        if self.rotation == "daily" and weekday_name:
            raise ValueError(
                f"handoff {self.handoff!r}: a daily rotation hands off every day, "
                "give just the time, like '09:00'"
            )
        if self.rotation == "weekly":
            if not weekday_name:
                raise ValueError(
                    f"handoff {self.handoff!r}: a weekly rotation needs a weekday, like 'MON 09:00'"
                )
            if self.start.weekday() != parse_weekday(weekday_name):
                raise ValueError(
                    f"start {self.start} is a {WEEKDAYS[self.start.weekday()]}, but the "
                    f"hand-off is on {weekday_name.upper()}: the first shift starts at a hand-off"
                )
        for person in self.business_hours:
            if person not in self.members:
                raise ValueError(f"business_hours: {person!r} is not a member of rota {self.id!r}")
        return self

    @property
    def handoff_weekday(self) -> int | None:
        """The hand-off weekday of a weekly rotation (Monday is 0); None for a daily one."""
        weekday_name, _, _ = self.handoff.strip().rpartition(" ")
        return parse_weekday(weekday_name) if weekday_name else None

    @property
    def handoff_time(self) -> dt.time:
        """The local time shifts change at."""
        return parse_clock(self.handoff.strip().rpartition(" ")[2])

    @property
    def shift_days(self) -> int:
        """How many days one shift lasts."""
        return 7 if self.rotation == "weekly" else 1


class OnCallProgram(_Strict):
    """The `oncall:` section: the rotas, and which of them is primary and secondary."""

    rotas: tuple[RotaConfig, ...] = Field(min_length=1, max_length=50)
    primary: str
    secondary: str | None = None

    @model_validator(mode="after")
    def _known_rotas(self) -> Self:
        ids = [rota.id for rota in self.rotas]
        for rota_id in ids:
            if ids.count(rota_id) > 1:
                raise ValueError(f"rotas: id {rota_id!r} is used twice")
        for role, wanted in (("primary", self.primary), ("secondary", self.secondary)):
            if wanted is not None and wanted not in ids:
                raise ValueError(f"{role}: unknown rota {wanted!r} (known: {', '.join(ids)})")
        if self.secondary == self.primary:
            raise ValueError("secondary must be a different rota than primary")
        return self

    def rota(self, rota_id: str) -> RotaConfig:
        """Return the rota with this id."""
        return next(rota for rota in self.rotas if rota.id == rota_id)


class StepKind(StrEnum):
    """What one escalation step does."""

    NOTIFY_PRIMARY = "notify_primary"  # DM the primary on-call and mention them in the thread
    NOTIFY_SECONDARY = "notify_secondary"
    NOTIFY_LEADS = "notify_leads"  # the program's roles.leads
    NOTIFY_GROUP = "notify_group"  # a Slack user group, by id (S0123ABCD)
    NOTIFY_CHANNEL = "notify_channel"  # the item's channel
    WAIT = "wait"
    REPEAT = "repeat"

    @property
    def notifies(self) -> bool:
        """Tell whether this step reaches people (rather than shaping the timeline)."""
        return self not in (StepKind.WAIT, StepKind.REPEAT)


_KINDS = frozenset(kind.value for kind in StepKind)
_ARGUMENT = {StepKind.WAIT: "duration", StepKind.NOTIFY_GROUP: "group", StepKind.REPEAT: "times"}
_EXAMPLE = {StepKind.WAIT: "{wait: 5m}", StepKind.NOTIFY_GROUP: "{notify_group: S0123ABCD}"}


class EscalationStep(_Strict):
    """One step; in YAML `notify_primary`, `{wait: 5m}`, `{notify_group: S0…}`, `{repeat: 2}`."""

    kind: StepKind
    duration: Seconds | None = None  # wait
    group: str | None = Field(default=None, pattern=_USER_GROUP)  # notify_group
    times: int | None = Field(default=None, ge=1, le=MAX_REPEATS)  # repeat: rounds after the first

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"kind": data}
        if isinstance(data, dict) and len(data) == 1:
            ((name, value),) = data.items()
            if name in _KINDS:
                argument = _ARGUMENT.get(StepKind(name))
                if argument is not None:
                    return {"kind": name, argument: value}
                if value is None:  # `- notify_channel:` with nothing after the colon
                    return {"kind": name}
                raise ValueError(f"{name} takes no value")
        return data

    @model_validator(mode="after")
    def _argument(self) -> Self:
        wanted = _ARGUMENT.get(self.kind)
        given = {name for name in ("duration", "group", "times") if getattr(self, name) is not None}
        if wanted is not None and wanted not in given:
            example = _EXAMPLE.get(self.kind, "{repeat: 2}")
            raise ValueError(f"{self.kind} needs a {wanted}, like {example}")
        if given - {wanted}:
            raise ValueError(f"{self.kind} takes no {', '.join(sorted(given - {wanted}))}")
        return self


class EscalationPolicy(_Strict):
    """How one severity escalates: the SLA clocks and the steps of a climb."""

    severity: str = Field(pattern=_ID)
    ack_within: Seconds  # the acknowledge-by clock, from the start of the escalation
    resolve_within: Seconds  # the resolve-by clock
    steps: tuple[EscalationStep, ...] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _sane(self) -> Self:
        kinds = [step.kind for step in self.steps]
        if not any(kind.notifies for kind in kinds):
            raise ValueError(f"policy {self.severity!r} never notifies anyone")
        if StepKind.REPEAT in kinds[:-1]:
            raise ValueError(f"policy {self.severity!r}: repeat must be the last step")
        if kinds[-1] is StepKind.REPEAT and StepKind.WAIT not in kinds:
            raise ValueError(
                f"policy {self.severity!r}: repeat without a wait would send every round at once"
            )
        if self.resolve_within < self.ack_within:
            raise ValueError(f"policy {self.severity!r}: resolve_within is shorter than ack_within")
        return self

    @property
    def body(self) -> tuple[EscalationStep, ...]:
        """The steps of one round (without the trailing repeat)."""
        return self.steps[:-1] if self.steps[-1].kind is StepKind.REPEAT else self.steps

    @property
    def rounds(self) -> int:
        """How many times the body runs in all: 1, plus the repeats."""
        last = self.steps[-1]
        return 1 + (last.times or 0) if last.kind is StepKind.REPEAT else 1


class EscalationProgram(_Strict):
    """The `escalation:` section: one policy per severity that escalates."""

    policies: tuple[EscalationPolicy, ...] = Field(min_length=1, max_length=10)
    # Pages to one person within this long of their first share one DM, updated in place (a
    # burst of forty reports is one notification, not forty); 0 sends every page on its own.
    group_pages_within: SecondsOrOff = Field(default=60, ge=0, le=3600)

    @model_validator(mode="after")
    def _one_per_severity(self) -> Self:
        seen: set[str] = set()
        for policy in self.policies:
            if policy.severity in seen:
                raise ValueError(f"policies: severity {policy.severity!r} has two policies")
            seen.add(policy.severity)
        return self

    def policy_for(self, severity: str) -> EscalationPolicy | None:
        """Return the policy for this severity, or None when it does not escalate."""
        return next((p for p in self.policies if p.severity == severity), None)


def escalation_problems(
    escalation: EscalationProgram,
    oncall: OnCallProgram | None,
    severities: Collection[str],
    leads: Sequence[str],
) -> list[str]:
    """Check the escalation section against the rest of the program; one message per problem."""
    problems = []
    for policy in escalation.policies:
        where = f"escalation.policies.{policy.severity}"
        if policy.severity not in severities:
            problems.append(f"{where}: unknown severity {policy.severity!r}")
        kinds = {step.kind for step in policy.steps}
        if kinds & {StepKind.NOTIFY_PRIMARY, StepKind.NOTIFY_SECONDARY} and oncall is None:
            problems.append(f"{where}: notifies on-call people, but there is no oncall section")
        if StepKind.NOTIFY_SECONDARY in kinds and oncall is not None and oncall.secondary is None:
            problems.append(f"{where}: notify_secondary, but oncall has no secondary rota")
        if StepKind.NOTIFY_LEADS in kinds and not leads:
            problems.append(f"{where}: notify_leads, but roles.leads is empty")
    return problems
