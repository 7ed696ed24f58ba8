"""The on-call and escalation sections of the program file: what they accept and refuse."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.oncall.program import (
    EscalationPolicy,
    EscalationProgram,
    EscalationStep,
    OnCallProgram,
    RotaConfig,
    StepKind,
    escalation_problems,
    parse_days,
    parse_duration,
)

SECTIONS = """
oncall:
  primary: ops
  secondary: vendor
  rotas:
    - id: ops
      members: [U0ALICE, U0BOB, Carol@Example.com]
      rotation: weekly
      handoff: MON 09:00
      start: 2025-03-03
      business_hours:
        carol@example.com: {days: MON-FRI, from: 09:00, to: 17:00}
      overrides:
        - {from: 2025-03-12 18:00, to: 2025-03-13 08:00, who: U0DAVE}
    - id: vendor
      members: [U0ERIN]
      rotation: daily
      handoff: 10:30
      start: 2025-03-01
escalation:
  policies:
    - severity: sev1
      ack_within: 15m
      resolve_within: 4h
      steps:
        - notify_primary
        - wait: 5m
        - notify_secondary
        - wait: 10m
        - notify_leads
        - notify_group: S0ONCALL
        - notify_channel:
        - wait: 15m
        - repeat: 2
"""


def rota(**fields: Any) -> RotaConfig:
    base: dict[str, Any] = {
        "id": "ops",
        "members": ["U0ALICE"],
        "handoff": "MON 09:00",
        "start": "2025-03-03",
    }
    return RotaConfig.model_validate(base | fields)


def policy(steps: list[Any], **fields: Any) -> EscalationPolicy:
    base: dict[str, Any] = {"severity": "sev1", "ack_within": "15m", "resolve_within": "4h"}
    return EscalationPolicy.model_validate(base | fields | {"steps": steps})


def test_the_documented_yaml_loads_with_unquoted_clock_times() -> None:
    """The example sections load from YAML, including 17:00 and 10:30 that YAML reads as numbers."""
    raw = yaml.safe_load(SECTIONS)
    oncall = OnCallProgram.model_validate(raw["oncall"])
    escalation = EscalationProgram.model_validate(raw["escalation"])

    ops = oncall.rota("ops")
    assert ops.members == ("U0ALICE", "U0BOB", "carol@example.com")
    assert ops.business_hours["carol@example.com"].to == dt.time(17, 0)
    assert (ops.handoff_weekday, ops.handoff_time, ops.shift_days) == (0, dt.time(9, 0), 7)
    vendor = oncall.rota("vendor")
    assert (vendor.handoff_weekday, vendor.handoff_time, vendor.shift_days) == (
        None,
        dt.time(10, 30),
        1,
    )
    sev1 = escalation.policy_for("sev1")
    assert sev1 is not None
    assert (sev1.ack_within, sev1.resolve_within, sev1.rounds) == (900, 14400, 3)
    assert [step.kind for step in sev1.body] == [
        StepKind.NOTIFY_PRIMARY,
        StepKind.WAIT,
        StepKind.NOTIFY_SECONDARY,
        StepKind.WAIT,
        StepKind.NOTIFY_LEADS,
        StepKind.NOTIFY_GROUP,
        StepKind.NOTIFY_CHANNEL,
        StepKind.WAIT,
    ]
    assert escalation.policy_for("sev4") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(900, 900), ("90s", 90), ("15m", 900), ("4h", 14400), ("1d", 86400), ("1h30m", 5400)],
)
def test_durations_read_as_seconds(text: object, seconds: int) -> None:
    """Durations are whole seconds or a number with units, read to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15 min", "m", "", "1.5h", "15M", True, 2.5, "30m1h"])
def test_malformed_durations_are_refused_with_the_accepted_forms(text: object) -> None:
    """A duration that is not seconds or units in d-h-m-s order is refused, naming the forms."""
    with pytest.raises(ValueError, match=r"not a duration: give seconds \(900\)"):
        parse_duration(text)


@pytest.mark.parametrize("text", [0, -5, "0m", "400d"])
def test_durations_must_be_positive_and_bounded(text: object) -> None:
    """A zero, negative or over-a-year duration is refused."""
    with pytest.raises(ValueError, match="more than 0 and at most 366 days"):
        parse_duration(text)


def test_day_ranges_may_wrap_past_sunday() -> None:
    """Day specs take ranges, lists and ranges wrapping the week end."""
    assert parse_days("MON-FRI") == {0, 1, 2, 3, 4}
    assert parse_days("sun-thu") == {6, 0, 1, 2, 3}
    assert parse_days("MON,WED,FRI-SAT") == {0, 2, 4, 5}
    with pytest.raises(ValueError, match="'MONDAY' is not a weekday"):
        parse_days("MONDAY")
    with pytest.raises(ValueError, match="'' is not a weekday"):
        parse_days("MON-")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"handoff": "09:00"}, "a weekly rotation needs a weekday"),
        ({"rotation": "daily", "handoff": "MON 09:00"}, "give just the time"),
        ({"handoff": "TUE 09:00"}, "start 2025-03-03 is a MON, but the hand-off is on TUE"),
        ({"handoff": "MON 9am"}, "'9am' is not a clock time"),
        ({"handoff": "MON 24:00"}, "is not a clock time"),
        ({"members": ["alice"]}, "neither a Slack user id"),
        ({"members": []}, "at least 1 item"),
        ({"id": "Ops Team"}, "String should match pattern"),
        (
            {"business_hours": {"U0BOB": {"from": "09:00", "to": "17:00"}}},
            "'U0BOB' is not a member of rota 'ops'",
        ),
        (
            {"business_hours": {"U0ALICE": {"from": "17:00", "to": "09:00"}}},
            "`to` must be later than `from`",
        ),
        ({"business_hours": {"U0ALICE": {"from": "09:00"}}}, "to\n  Field required"),
        (
            {"overrides": [{"from": "2025-03-04T10:00", "to": "2025-03-04T09:00", "who": "U0B"}]},
            "`to` must be later than `from`",
        ),
        (
            {"overrides": [{"from": "2025-03-04T10:00Z", "to": "2025-03-04T12:00", "who": "U0B"}]},
            "with an offset, or neither",
        ),
        ({"colour": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_rotas_are_refused_with_a_clear_message(
    fields: dict[str, Any], message: str
) -> None:
    """Each rota mistake is refused with a message that says what is wrong."""
    with pytest.raises(ValidationError, match=message):
        rota(**fields)


def test_on_call_section_checks_rota_references() -> None:
    """Unknown, duplicate or identical primary/secondary rota ids are refused."""
    ops = rota().model_dump(by_alias=True)
    with pytest.raises(ValidationError, match=r"primary: unknown rota 'sre' \(known: ops\)"):
        OnCallProgram.model_validate({"rotas": [ops], "primary": "sre"})
    with pytest.raises(ValidationError, match="secondary: unknown rota 'vendor'"):
        OnCallProgram.model_validate({"rotas": [ops], "primary": "ops", "secondary": "vendor"})
    with pytest.raises(ValidationError, match="'ops' is used twice"):
        OnCallProgram.model_validate({"rotas": [ops, ops], "primary": "ops"})
    with pytest.raises(ValidationError, match="secondary must be a different rota"):
        OnCallProgram.model_validate({"rotas": [ops], "primary": "ops", "secondary": "ops"})


def test_steps_take_shorthand_and_long_forms() -> None:
    """A step is a bare kind, a one-key mapping with its argument, or the long form."""
    assert EscalationStep.model_validate("notify_leads").kind is StepKind.NOTIFY_LEADS
    assert EscalationStep.model_validate({"wait": "5m"}).duration == 300
    assert EscalationStep.model_validate({"kind": "wait", "duration": 60}).duration == 60
    assert EscalationStep.model_validate({"notify_group": "S0SRE"}).group == "S0SRE"
    assert EscalationStep.model_validate({"repeat": 3}).times == 3


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("wait", r"wait needs a duration, like \{wait: 5m\}"),
        ("notify_group", "notify_group needs a group"),
        ({"notify_primary": "U0ALICE"}, "notify_primary takes no value"),
        ({"kind": "notify_primary", "duration": 60}, "notify_primary takes no duration"),
        ({"notify_group": "U0ALICE"}, "String should match pattern"),
        ({"repeat": 10}, "less than or equal to 9"),
        ({"wait": "5 minutes"}, "not a duration"),
        ("page_everyone", "Input should be 'notify_primary'"),
    ],
)
def test_malformed_steps_are_refused(step: Any, message: str) -> None:
    """Each step mistake is refused with a message naming the fix."""
    with pytest.raises(ValidationError, match=message):
        EscalationStep.model_validate(step)


@pytest.mark.parametrize(
    ("steps", "fields", "message"),
    [
        ([{"wait": "5m"}], {}, "never notifies anyone"),
        ([{"repeat": 2}, "notify_primary", {"wait": "5m"}], {}, "repeat must be the last step"),
        (["notify_primary", {"repeat": 2}], {}, "would send every round at once"),
        (["notify_primary"], {"ack_within": "1h", "resolve_within": "30m"}, "shorter than ack"),
        (["notify_primary"], {"ack_within": 0}, "more than 0"),
        ([], {}, "at least 1 item"),
    ],
)
def test_malformed_policies_are_refused(
    steps: list[Any], fields: dict[str, Any], message: str
) -> None:
    """Each policy mistake is refused with a clear message."""
    with pytest.raises(ValidationError, match=message):
        policy(steps, **fields)


def test_one_policy_per_severity() -> None:
    """Two policies for one severity are refused."""
    sev1 = policy(["notify_primary"]).model_dump()
    with pytest.raises(ValidationError, match="severity 'sev1' has two policies"):
        EscalationProgram.model_validate({"policies": [sev1, sev1]})


def test_cross_checks_name_each_missing_piece() -> None:
    """The escalation section is checked against severities, the on-call section and leads."""
    steps = ["notify_primary", "notify_secondary", "notify_leads"]
    escalation = EscalationProgram(policies=(policy(steps, severity="sev9"),))
    oncall = OnCallProgram.model_validate({"rotas": [rota().model_dump()], "primary": "ops"})

    assert escalation_problems(escalation, None, {"sev1"}, []) == [
        "escalation.policies.sev9: unknown severity 'sev9'",
        "escalation.policies.sev9: notifies on-call people, but there is no oncall section",
        "escalation.policies.sev9: notify_leads, but roles.leads is empty",
    ]
    assert escalation_problems(escalation, oncall, {"sev9"}, ["U0LEAD"]) == [
        "escalation.policies.sev9: notify_secondary, but oncall has no secondary rota"
    ]


@pytest.mark.parametrize(
    ("given", "seconds"), [(None, 60), ("90s", 90), ("10m", 600), (0, 0), ("0s", 0), ("off", 0)]
)
def test_page_grouping_takes_a_window_or_off(given: object, seconds: int) -> None:
    """`group_pages_within` defaults to a minute; 0 (or `off`) sends every page on its own."""
    fields: dict[str, Any] = {"policies": [policy(["notify_primary"])]}
    if given is not None:
        fields["group_pages_within"] = given
    assert EscalationProgram.model_validate(fields).group_pages_within == seconds


@pytest.mark.parametrize("given", ["2h", "soon", -5])
def test_page_grouping_refuses_long_or_malformed_windows(given: object) -> None:
    """A window over an hour would fold unrelated pages into an old, silent DM: refused."""
    with pytest.raises(ValidationError, match="group_pages_within"):
        EscalationProgram.model_validate(
            {"policies": [policy(["notify_primary"])], "group_pages_within": given}
        )
