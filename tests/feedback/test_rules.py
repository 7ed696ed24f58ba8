"""Pure rules of feedback intake: validation and summary cleaning."""

from __future__ import annotations

from bot.config import Program
from bot.domain import FeedbackDraft, Field
from bot.feedback.service import clean_summary, summary_from_text, validate
from sandbox.demo.samples import feedback_draft


def draft(**changes: object) -> FeedbackDraft:
    """A valid draft for the example program."""
    return feedback_draft(**changes)


def test_valid_draft_has_no_problems(program: Program) -> None:
    """A complete draft passes."""
    assert validate(draft(), program) == {}


def test_each_rule_reports_on_its_own_field(program: Program) -> None:
    """Each broken rule is reported once, on the field that breaks it."""
    problems = validate(
        draft(
            summary="",
            severity="sev9",
            category="",
            actual="",
            trying="t" * 3001,
            correlation_id="has spaces",
            api_endpoint="/" * 301,
            channel_id="",
        ),
        program,
    )
    assert set(problems) == {
        Field.SUMMARY,
        Field.SEVERITY,
        Field.CATEGORY,
        Field.ACTUAL,
        Field.TRYING,
        Field.CORRELATION_ID,
        Field.API_ENDPOINT,
        Field.CHANNEL,
    }
    assert "not one of the options" in problems[Field.SEVERITY]
    assert problems[Field.CATEGORY] == "Please pick one."


def test_limits_are_inclusive(program: Program) -> None:
    """Text exactly at the limit is accepted; one more character is not."""
    assert validate(draft(summary="s" * 150, actual="a" * 3000), program) == {}
    assert Field.SUMMARY in validate(draft(summary="s" * 151), program)


def test_clean_summary_drops_invisible_and_control_characters() -> None:
    """Bidi overrides, zero-width characters and line breaks cannot disguise a summary."""
    assert clean_summary("Pay\u202eyap\u200b ment\n\tfails  ") == "Payyap ment fails"
    assert clean_summary("e\u0301") == "é"  # NFC


def test_summary_from_text_takes_the_first_line_and_shortens() -> None:
    """A message's first line becomes the summary, cut with an ellipsis past 150 characters."""
    assert summary_from_text("First line\nsecond") == "First line"
    long = summary_from_text("w" * 400)
    assert len(long) == 150 and long.endswith("…")
    assert summary_from_text("   ") == ""
