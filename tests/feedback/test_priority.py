"""The priority score: RICE-like, from severity, reach, reporters and age, weights in the file."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bot.config import Program, load_program
from bot.domain import Feedback, FeedbackState
from bot.feedback.priority import impact, ranked, score

ROOT = Path(__file__).resolve().parent.parent.parent
NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def program() -> Program:
    """The example program."""
    return load_program(ROOT / "hypercare.example.yaml")


def item(**changes: object) -> Feedback:
    """An open sev3 item filed now by one person reaching one."""
    base = Feedback(
        id=1, short_id="HC-1", summary="s", category="bug", severity="sev3",
        component="payments-api", environment="production", trying="", expected="", actual="",
        api_endpoint=None, correlation_id=None, users_affected=None, channel_id="C1",
        reporter_id="U1", state=FeedbackState.NEW, created_at=NOW, source=None, receipt_ts=None,
        receipt_permalink=None,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_formula_reads_as_documented(program: Program) -> None:
    """impact × (1 + log10 reach) × reporters^0.5 × (1 + 0.1 × days): 1 × 3 × 2 × 1.2 = 7.2."""
    two_days = NOW - dt.timedelta(days=2)
    assert score(item(), program, NOW) == 1.0
    assert score(item(reach=100, reporters=4, created_at=two_days), program, NOW) == 7.2


def test_severity_impact_follows_rice_by_rank_unless_the_file_says(program: Program) -> None:
    """Without a `priority.severity` entry a severity's impact is RICE's 3, 2, 1, 0.5 by rank."""
    assert [impact(program, s.id) for s in program.severities] == [3.0, 2.0, 1.0, 0.5]
    custom = program.model_copy(
        update={"priority": program.priority.model_copy(update={"severity": {"sev4": 5.0}})}
    )
    assert impact(custom, "sev4") == 5.0


def test_reach_and_reporters_outrank_a_lone_report_of_the_same_severity(program: Program) -> None:
    """Of two sev3 items, the one many people reported ranks first."""
    lone, crowded = item(id=1), item(id=2, reach=1000, reporters=6)
    assert [f.id for f, _ in ranked([lone, crowded], program, NOW)] == [2, 1]


def test_the_priority_section_is_validated() -> None:
    """An unknown severity or a negative weight in `priority:` is refused."""
    raw = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text())
    with pytest.raises(ValidationError, match="unknown severities sev9"):
        Program.model_validate({**raw, "priority": {"severity": {"sev9": 1}}})
    with pytest.raises(ValidationError):
        Program.model_validate({**raw, "priority": {"age_per_day": -1}})
    with pytest.raises(ValidationError):
        Program.model_validate({**raw, "priority": {"weight": 1}})
