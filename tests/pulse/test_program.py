"""The `pulse:` section and the `satisfaction_above` exit criterion: defaults, the shipped
example, and every mistake refused with its place and a clear message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Program, ProgramFileError, load_program
from bot.domain import PulseAudience
from bot.pulse.program import DEFAULT_QUESTION, PulseProgram
from bot.reports.program import SatisfactionAbove
from tests.conftest import ROOT

EXAMPLE = ROOT / "hypercare.example.yaml"


def example(**changes: Any) -> dict[str, Any]:
    """The example program file as a dict, with top-level keys changed."""
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return {**raw, **changes}


def problems(tmp_path: Path, raw: dict[str, Any]) -> list[str]:
    """What `check-config` would say about a program file."""
    path = tmp_path / "hypercare.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ProgramFileError) as caught:
        load_program(path)
    return caught.value.problems


def test_defaults_ask_the_digest_channel_on_monday_morning() -> None:
    """An empty section asks the default question on Mondays at 10:00 in a channel, takes
    answers for a week and is sent late within 6 hours."""
    section = PulseProgram()
    assert section.weekdays == frozenset({0}) and section.at == dt.time(10, 0)
    assert section.question == DEFAULT_QUESTION and section.enabled
    assert section.audience is PulseAudience.CHANNEL
    assert section.grace_period == dt.timedelta(hours=6)
    assert section.answer_window == dt.timedelta(days=7)


def test_the_audience_is_a_channel_or_the_reporters() -> None:
    """`channel` is the digest channel, else the feedback one; a channel id is itself;
    `reporters` asks by DM (no channel)."""
    assert PulseProgram(to="channel").channel("C0DIGEST", "C0FEEDBACK") == "C0DIGEST"
    assert PulseProgram(to="channel").channel(None, "C0FEEDBACK") == "C0FEEDBACK"
    assert PulseProgram(to="C0PULSE").channel("C0DIGEST", "C0FEEDBACK") == "C0PULSE"
    reporters = PulseProgram(to="reporters")
    assert reporters.audience is PulseAudience.REPORTERS
    assert reporters.channel("C0DIGEST", "C0FEEDBACK") is None


def test_several_days_and_unquoted_times_read_as_written() -> None:
    """`MON,THU` and `MON-FRI` are read like the digest's days; YAML's 10:30 (a number) is
    10:30."""
    assert PulseProgram(days="MON,THU").weekdays == frozenset({0, 3})
    assert PulseProgram(days="MON-FRI").weekdays == frozenset(range(5))
    parsed = yaml.safe_load("at: 10:30")
    assert PulseProgram.model_validate(parsed).at == dt.time(10, 30)


def test_the_commented_example_is_a_valid_program_with_the_criterion() -> None:
    """Uncommenting the example's `pulse:` section, and adding the criterion its comment
    suggests, gives a valid program; the example as shipped has no pulse."""
    assert load_program(EXAMPLE).pulse is None
    lines, inside = [], False
    for line in EXAMPLE.read_text().splitlines():
        inside = line.startswith("# pulse:") or (inside and line.startswith("#   "))
        lines.append(line[2:] if inside else line)
    raw = yaml.safe_load("\n".join(lines))
    raw["reports"]["exit_criteria"].append({"satisfaction_above": {"percent": 80, "responses": 10}})
    program = Program.model_validate(raw)
    assert program.pulse is not None
    assert program.pulse.weekdays == frozenset({0}) and program.pulse.at == dt.time(10, 0)
    assert program.pulse.channel(program.channels.digest, program.channels.feedback) == "C0DIGEST"
    assert program.pulse.question == DEFAULT_QUESTION
    assert program.pulse.answer_window == dt.timedelta(days=7)


def test_the_criterion_s_label_says_what_it_needs() -> None:
    """The generated label names the percentage and the span; `label:` overrides it."""
    assert SatisfactionAbove(percent=80, responses=10).label == (
        "User satisfaction (CSAT) at least 80% (the window)"
    )
    assert SatisfactionAbove(percent=75.5, responses=5, days=14).label == (
        "User satisfaction (CSAT) at least 75.5% (last 14d)"
    )
    assert SatisfactionAbove(percent=80, responses=1, label="Users happy").label == "Users happy"


PULSE = {"days": "MON", "at": "10:00"}
CRITERION = {"satisfaction_above": {"percent": 80, "responses": 10}}
BAD: list[tuple[dict[str, Any], str]] = [
    ({"pulse": {"days": "MONDAY"}}, "pulse.days: 'MONDAY' is not a weekday"),
    ({"pulse": {"at": "25:00"}}, "pulse.at: '25:00' is not a clock time"),
    (
        {"pulse": {"to": "everyone"}},
        "pulse.to: 'everyone' is not an audience: use `channel`, a channel id "
        "like C0123ABCD, or `reporters`",
    ),
    ({"pulse": {"to": "#general"}}, "'#general' is not an audience"),
    ({"pulse": {"grace": "2d"}}, "pulse.grace: at most 1d, or a late pulse"),
    ({"pulse": {"grace": 0}}, "pulse.grace: 0: a duration must be more than 0"),
    ({"pulse": {"open_for": "30m"}}, "pulse.open_for: give between 1h and 14d"),
    ({"pulse": {"open_for": "15d"}}, "pulse.open_for: give between 1h and 14d"),
    ({"pulse": {"question": "   "}}, "pulse.question: the question is empty"),
    ({"pulse": {"question": "x" * 301}}, "pulse.question: String should have at most 300"),
    ({"pulse": {"colour": "blue"}}, "pulse.colour: Extra inputs are not permitted"),
    ({"pulse": {"days": "MON", "enabled": "sometimes"}}, "pulse.enabled: Input should be a"),
    (
        {"reports": {"exit_criteria": [CRITERION]}},
        "reports.exit_criteria[0] (User satisfaction (CSAT) at least 80% (the window)): reads "
        "the user pulse's answers, but there is no pulse section",
    ),
    (
        {"pulse": PULSE, "reports": {"exit_criteria": [{"satisfaction_above": {"percent": 80}}]}},
        "satisfaction_above.responses: Field required",
    ),
    (
        {
            "pulse": PULSE,
            "reports": {"exit_criteria": [{"satisfaction_above": {"percent": 0, "responses": 1}}]},
        },
        "satisfaction_above.percent: Input should be greater than 0",
    ),
    (
        {
            "pulse": PULSE,
            "reports": {"exit_criteria": [{"satisfaction_above": {"percent": 80, "responses": 0}}]},
        },
        "satisfaction_above.responses: Input should be greater than or equal to 1",
    ),
    (
        {"pulse": PULSE, "reports": {"exit_criteria": [{"satisfaction_above": 80}]}},
        "like `- satisfaction_above: {percent: 80, responses: 10}`",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_input_is_refused_with_its_place_and_a_clear_message(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    """Each mistake in the section (or a criterion that needs it) is an error that names where
    it is and what would be right."""
    found = problems(tmp_path, example(**changes))
    assert any(expected in problem for problem in found), found


def test_a_program_with_the_section_and_the_criterion_loads(tmp_path: Path) -> None:
    """The section with the criterion is a valid program file."""
    path = tmp_path / "hypercare.yaml"
    raw = example(
        pulse={"days": "MON,THU", "at": "10:00", "to": "reporters", "question": "Happy?"},
        reports={"exit_criteria": [CRITERION]},
    )
    path.write_text(yaml.safe_dump(raw))
    program = load_program(path)
    assert program.pulse is not None and program.pulse.audience is PulseAudience.REPORTERS
    [criterion] = program.reports.exit_criteria
    assert isinstance(criterion, SatisfactionAbove) and criterion.responses == 10
