"""The `reports:` section of the program file: what it accepts, what it refuses, and why."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.reports.program import (
    KINDS,
    DailyDigest,
    ErrorRateBelow,
    MttrBelow,
    NoOpenSeverity,
    NoSlaBreach,
    NoUnownedItems,
    OpenItemsBelow,
    P95LatencyBelow,
    ReportsProgram,
    Window,
    report_problems,
)

SECTION = """
reports:
  daily:
    at: 09:00
    days: MON-FRI
    top: 5
    grace: 4h
  weekly:
    day: fri
    at: 16:30
    grace: 2d
  window:
    start: 2026-11-16
    end: 2026-12-18
  exit_criteria:
    - no_open_severity: {severity: sev1, days: 7}
    - no_sla_breach: {days: 5}
      label: Nothing late for a working week
    - error_rate_below: {percent: 0.5, days: 7, source: gateway}
    - mttr_below: {severity: sev2, hours: 8}
    - no_unowned_items
    - p95_latency_below: {ms: 800, days: 7, label: Fast enough}
    - open_items_below: {count: 5}
"""
WINDOW = {"start": "2026-11-16", "end": "2026-12-18"}
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")


def reports(**fields: Any) -> ReportsProgram:
    """A reports section with the window filled in."""
    return ReportsProgram.model_validate({"window": WINDOW} | fields)


def from_yaml(text: str) -> ReportsProgram:
    """A reports section from a YAML fragment that may leave out the window."""
    return reports(**yaml.safe_load(text))


def errors(text: str) -> list[str]:
    """Every error of a fragment, each as `loc: message`."""
    with pytest.raises(ValidationError) as caught:
        from_yaml(text)
    return [
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in caught.value.errors()
    ]


def test_the_documented_yaml_loads_with_unquoted_clock_times() -> None:
    """The whole section loads; YAML 1.1 reads 16:30 as the number 990 (09:00 stays a string)."""
    raw = yaml.safe_load(SECTION)["reports"]
    assert raw["daily"]["at"] == "09:00" and raw["weekly"]["at"] == 990
    section = ReportsProgram.model_validate(raw)
    assert section.daily.at == dt.time(9, 0) and section.daily.weekdays == frozenset(range(5))
    assert section.daily.top == 5 and section.daily.grace_period == dt.timedelta(hours=4)
    assert section.weekly.day == "FRI" and section.weekly.weekdays == frozenset({4})
    assert section.weekly.at == dt.time(16, 30) and section.weekly.grace == 2 * 86400
    assert section.window == Window(start=dt.date(2026, 11, 16), end=dt.date(2026, 12, 18))
    assert [type(c) for c in section.exit_criteria] == [
        NoOpenSeverity,
        NoSlaBreach,
        ErrorRateBelow,
        MttrBelow,
        NoUnownedItems,
        P95LatencyBelow,
        OpenItemsBelow,
    ]
    assert [c.label for c in section.exit_criteria] == [
        "No open sev1 for 7 days",
        "Nothing late for a working week",
        "Error rate under 0.5% for 7 days",
        "MTTR for sev2 under 8 hours (last 7d)",
        "Every open item has an owner",
        "Fast enough",
        "Fewer than 5 open items",
    ]
    mttr = section.exit_criteria[3]
    assert isinstance(mttr, MttrBelow) and mttr.days == 7  # the default trailing window


def test_defaults_are_a_weekday_morning_digest_and_a_friday_afternoon_review() -> None:
    """Only the window is required; the schedules default to 09:00 MON-FRI and FRI 16:00."""
    section = reports()
    assert section.daily.at == dt.time(9, 0) and section.daily.weekdays == frozenset(range(5))
    assert section.daily.enabled and section.daily.top == 10
    assert section.daily.grace_period == dt.timedelta(hours=6)
    assert section.weekly.weekdays == frozenset({4}) and section.weekly.at == dt.time(16, 0)
    assert section.weekly.enabled and section.weekly.grace_period == dt.timedelta(hours=24)
    assert section.exit_criteria == ()


@pytest.mark.parametrize(
    ("text", "number", "clock"),
    [("at: 9:00", 540, dt.time(9, 0)), ("at: 17:00", 1020, dt.time(17, 0))],
)
def test_clock_times_that_yaml_reads_as_numbers_mean_the_time_written(
    text: str, number: int, clock: dt.time
) -> None:
    """An unquoted H:MM is a base-60 integer to YAML 1.1; it still means that time of day."""
    raw = yaml.safe_load(text)
    assert raw["at"] == number
    assert DailyDigest.model_validate(raw).at == clock
    assert reports(weekly=raw).weekly.at == clock


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("- no_unowned_items", NoUnownedItems()),
        ("- no_unowned_items:", NoUnownedItems()),
        ("- no_unowned_items: {}", NoUnownedItems()),
        ("- no_sla_breach: {days: 1}", NoSlaBreach(days=1, label="No SLA breach for 1 day")),
        ("- {kind: no_sla_breach, days: 3}", NoSlaBreach(days=3)),
        # Parameters indented as siblings of the kind (a common YAML slip) mean the same.
        ("- no_sla_breach:\n  days: 3", NoSlaBreach(days=3)),
        (
            "- open_items_below: {count: 2, severity: sev2}",
            OpenItemsBelow(count=2, severity="sev2"),
        ),
        (
            "- mttr_below: {severity: sev1, hours: 1.5, days: 14}",
            MttrBelow(severity="sev1", hours=1.5, days=14),
        ),
    ],
)
def test_every_shorthand_reads_as_the_long_form(item: str, expected: object) -> None:
    """A bare word, an empty value, `kind:` and sibling parameters all give the same model."""
    (criterion,) = from_yaml(f"exit_criteria:\n{item}").exit_criteria
    assert criterion == expected


def test_generated_labels_read_well() -> None:
    """Labels come from the parameters, with singulars and without trailing zeros."""
    assert OpenItemsBelow(count=3, severity="sev1").label == "Fewer than 3 open sev1 items"
    assert MttrBelow(severity="sev2", hours=1).label == "MTTR for sev2 under 1 hour (last 7d)"
    assert ErrorRateBelow(percent=1, days=2).label == "Error rate under 1% for 2 days"
    assert P95LatencyBelow(ms=500, days=1).label == "p95 latency under 500 ms for 1 day"
    assert NoOpenSeverity(severity="sev1", days=3, label="Calm").label == "Calm"
    assert NoOpenSeverity(severity="sev1", days=3, label="  ").label == "No open sev1 for 3 days"


def test_every_kind_is_listed_once() -> None:
    """The closed set of kinds is what error messages offer."""
    assert KINDS == (
        "no_open_severity",
        "no_sla_breach",
        "error_rate_below",
        "p95_latency_below",
        "mttr_below",
        "open_items_below",
        "no_unowned_items",
        "satisfaction_above",
    )


BAD = [
    ("window: {start: 2026-12-18, end: 2026-12-18}", "window: Value error, window: `end` must"),
    ("colour: blue", "colour: Extra inputs are not permitted"),
    ("daily: {days: MON-FRY}", "daily.days: Value error, 'FRY' is not a weekday"),
    ("daily: {at: 9am}", "daily.at: Value error, '9am' is not a clock time"),
    ("daily: {at: 24:00}", "daily.at: Value error, 1440 is not a clock time"),
    ("daily: {grace: 2d}", "daily.grace: Value error, at most 1d"),
    ("daily: {grace: 0}", "daily.grace: Value error, 0: a duration must be more than 0"),
    ("daily: {top: 0}", "daily.top: Input should be greater than or equal to 1"),
    ("daily: {day: MON}", "daily.day: Extra inputs are not permitted"),
    ("weekly: {day: FRY}", "weekly.day: Value error, 'FRY' is not a weekday"),
    ("weekly: {days: MON-FRI}", "weekly.days: Extra inputs are not permitted"),
    ("weekly: {grace: 8d}", "weekly.grace: Value error, at most 7d"),
    ("exit_criteria: [all_triaged]", "exit_criteria.0: Value error, unknown exit criterion"),
    ("exit_criteria: [all_triaged]", "did you mean no_unowned_items?"),
    ("exit_criteria: [{no_sla_breech: {}}]", "'no_sla_breech' (known: no_open_severity, no_sla"),
    ("exit_criteria: [{kind: nope}]", "exit_criteria.0: Input tag 'nope' found using 'kind'"),
    ("exit_criteria: [{no_sla_breach: {dayz: 5}}]", "no_sla_breach.dayz: Extra inputs are not"),
    ("exit_criteria: [{no_sla_breach: {}}]", "exit_criteria.0.no_sla_breach.days: Field required"),
    ("exit_criteria: [{no_sla_breach: 5}]", "like `- no_sla_breach: {days: 5}`"),
    ("exit_criteria: [{no_unowned_items: yes}]", "no_unowned_items: give its parameters as a"),
    ("exit_criteria: [{no_sla_breach: {}, mttr_below: {}}]", "one criterion per list item, not"),
    ("exit_criteria: [{no_sla_breach: {days: 5}, days: 6}]", "no_sla_breach: days given twice"),
    ("exit_criteria: [{label: Calm}]", "exit_criteria.0: Value error, label without a criterion"),
    ("exit_criteria: [{no_sla_breach: {days: 0}}]", "days: Input should be greater than or equal"),
    ("exit_criteria: [{no_sla_breach: {days: 400}}]", "days: Input should be less than or equal"),
    ("exit_criteria: [{error_rate_below: {percent: 0, days: 1}}]", "percent: Input should be gre"),
    (
        "exit_criteria: [{error_rate_below: {percent: 101, days: 1}}]",
        "percent: Input should be les",
    ),
    (
        "exit_criteria: [{mttr_below: {severity: sev2, hours: -1}}]",
        "hours: Input should be greater",
    ),
    ("exit_criteria: [{open_items_below: {count: 0}}]", "count: Input should be greater than or"),
    ("exit_criteria: [{no_open_severity: {days: 7}}]", "no_open_severity.severity: Field required"),
    (
        "exit_criteria: [{no_sla_breach: {days: 5}}, {kind: no_sla_breach, days: 5}]",
        "two criteria are labelled 'No SLA breach for 5 days'",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_input_is_refused_with_its_place_and_a_clear_message(text: str, expected: str) -> None:
    """Each mistake is an error that names where it is and what would be right."""
    problems = errors(text)
    assert any(expected in problem for problem in problems), problems


def test_the_window_is_optional() -> None:
    """Without its own window the section uses the program's go_live and planned_end."""
    assert ReportsProgram.model_validate({}).window is None
    with pytest.raises(ValidationError, match="window"):
        ReportsProgram.model_validate({"window": {"start": "2026-12-18"}})


def test_the_window_counts_days_left_and_the_day_number() -> None:
    """Days left are 0 on the end date and negative once the window is overrun."""
    window = Window(start=dt.date(2026, 11, 16), end=dt.date(2026, 12, 18))
    assert window.length_days == 33
    assert window.days_left(dt.date(2026, 11, 16)) == 32
    assert window.days_left(dt.date(2026, 12, 18)) == 0
    assert window.days_left(dt.date(2026, 12, 20)) == -2
    assert window.day_number(dt.date(2026, 11, 16)) == 1
    assert window.day_number(dt.date(2026, 12, 18)) == 33


def test_a_valid_section_has_no_problems() -> None:
    """The documented section fits a program with these severities and one metrics source."""
    section = ReportsProgram.model_validate(yaml.safe_load(SECTION)["reports"])
    assert report_problems(section, SEVERITIES, metric_sources=["gateway"]) == []
    assert report_problems(section, SEVERITIES) == []  # metrics not checked


def test_unknown_severities_are_problems() -> None:
    """A criterion naming a severity the program does not have is reported with its place."""
    section = from_yaml("""
exit_criteria:
  - no_open_severity: {severity: critical, days: 7}
  - mttr_below: {severity: sev9, hours: 8}
  - open_items_below: {count: 3, severity: sev5}
  - open_items_below: {count: 3}
""")
    assert report_problems(section, SEVERITIES) == [
        "reports.exit_criteria[0] (No open critical for 7 days): unknown severity 'critical'",
        "reports.exit_criteria[1] (MTTR for sev9 under 8 hours (last 7d)): unknown severity 'sev9'",
        "reports.exit_criteria[2] (Fewer than 3 open sev5 items): unknown severity 'sev5'",
    ]


def test_a_streak_longer_than_the_window_is_a_problem() -> None:
    """A 10-day streak cannot be met by the end of a 9-day window; MTTR may average longer."""
    section = reports(
        window={"start": "2026-03-02", "end": "2026-03-10"},
        exit_criteria=[
            {"no_open_severity": {"severity": "sev1", "days": 10}},
            {"no_sla_breach": {"days": 9}},
            {"mttr_below": {"severity": "sev2", "hours": 8, "days": 30}},
        ],
    )
    assert report_problems(section, SEVERITIES) == [
        "reports.exit_criteria[0] (No open sev1 for 10 days): needs 10 days in a row, but the "
        "window is only 9 days long, so it cannot be met by its end"
    ]


def test_metric_criteria_need_a_known_source() -> None:
    """Gateway criteria need a metrics section, and a source named when there are several."""
    section = from_yaml("""
exit_criteria:
  - error_rate_below: {percent: 1, days: 3}
  - p95_latency_below: {ms: 800, days: 3, source: prom}
""")
    assert report_problems(section, SEVERITIES, metric_sources=["gateway"]) == [
        "reports.exit_criteria[1] (p95 latency under 800 ms for 3 days): unknown metrics source "
        "'prom' (known: gateway)"
    ]
    assert report_problems(section, SEVERITIES, metric_sources=[]) == [
        "reports.exit_criteria[0] (Error rate under 1% for 3 days): reads gateway metrics, but "
        "there is no metrics section",
        "reports.exit_criteria[1] (p95 latency under 800 ms for 3 days): reads gateway metrics, "
        "but there is no metrics section",
    ]
    assert report_problems(section, SEVERITIES, metric_sources=["gateway", "prom"]) == [
        "reports.exit_criteria[0] (Error rate under 1% for 3 days): several metrics sources, "
        "name one with source: (gateway, prom)"
    ]


def test_sections_are_frozen() -> None:
    """A loaded section cannot be changed behind the scheduler's back."""
    daily = DailyDigest()
    with pytest.raises(ValidationError):
        daily.top = 3  # type: ignore[misc]
