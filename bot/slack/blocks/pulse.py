"""Block Kit for the user pulse: the question with its 1–5 buttons, the private answers to a
press, the comment form, and the satisfaction figures in `/hypercare status` and the weekly
review. Comments are user text and private: only leads read them, privately; elsewhere they
are only counted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config import Program
from bot.domain import Pulse, PulseAnswer, PulseAudience, Satisfaction, SatisfactionTrend
from bot.pulse.service import (
    COMMENT_MAX,
    RESEND_AFTER,
    SCORES,
    CommentField,
    SendOutcome,
    SendResult,
    VoteOutcome,
    VoteResult,
)
from bot.slack.blocks.tickets import when
from bot.slack.ids import COMMAND, PULSE_BLOCK, Action, Callback, score_action
from bot.slack.text import safe

SCORE_LABELS = {
    1: "1 :disappointed:",
    2: "2 :slightly_frowning_face:",
    3: "3 :neutral_face:",
    4: "4 :slightly_smiling_face:",
    5: "5 :smile:",
}
SCORE_MEANINGS = {1: "very poor", 2: "poor", 3: "okay", 4: "good", 5: "excellent"}
QUESTION_SHOWN = 1500  # the program allows 300 characters; escaped, well within a section
COMMENT_SHOWN = 500  # characters of a comment in a lead's private list
STEADY_POINTS = 2.0  # a CSAT change smaller than this many points reads as "about the same"


def field_block(field: CommentField) -> str:
    """The block id of a comment form field."""
    return PULSE_BLOCK + field


# -- the question ---------------------------------------------------------------------------


def pulse_message(pulse: Pulse) -> tuple[str, list[Block]]:
    """The question, 1–5 buttons carrying the pulse's id, and *Add a comment*."""
    question = safe(pulse.question, QUESTION_SHOWN)
    scale = " · ".join(f"{n} = {SCORE_MEANINGS[n]}" for n in (1, 3, 5))
    note = (
        f"{scale}. One answer per person: press another number to change it. Open until "
        f"{when(pulse.closes_at)}. Only totals are shared; a comment goes to the hypercare "
        "leads alone."
    )
    scores = [
        ButtonElement(text=SCORE_LABELS[n], action_id=score_action(n), value=f"{pulse.id}:{n}")
        for n in SCORES
    ]
    comment = ButtonElement(
        text="Add a comment", action_id=Action.PULSE_COMMENT, value=str(pulse.id)
    )
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f":wave: *{question}*")),
        ActionsBlock(block_id="pulse-scores", elements=scores),
        ActionsBlock(block_id="pulse-more", elements=[comment]),
        ContextBlock(elements=[MarkdownTextObject(text=note)]),
    ]
    return f"{question} Answer 1 to 5.", blocks


# -- answers to a press -----------------------------------------------------------------------


def vote_answer(result: VoteResult) -> str:
    """What the presser alone is told."""
    if result.outcome is VoteOutcome.RECORDED:
        return (
            f":white_check_mark: Thanks — you said {result.score}/5. Change it any time by "
            "pressing another number."
        )
    if result.outcome is VoteOutcome.CHANGED:
        return f":white_check_mark: Changed your answer from {result.previous} to {result.score}."
    if result.outcome is VoteOutcome.SAME:
        return (
            f"You already answered {result.score}/5 — nothing changed. Press another number to "
            "change it."
        )
    return closed_or_unknown(result)


def closed_or_unknown(result: VoteResult) -> str:
    """Why a pulse takes no answer (closed, or unknown): nothing was recorded."""
    if result.outcome is VoteOutcome.CLOSED and result.pulse is not None:
        return (
            f"This pulse has closed (it took answers until {when(result.pulse.closes_at)}): "
            "nothing was recorded. Please answer the latest one."
        )
    return "I know no such pulse: nothing was recorded."


# -- the comment form -------------------------------------------------------------------------


def comment_modal(pulse: Pulse, answer: PulseAnswer | None) -> dict[str, Any]:
    """The comment form: the score (the presser's so far, if any) and the comment."""
    options = {n: Option(value=str(n), text=f"{n} — {SCORE_MEANINGS[n]}") for n in SCORES}
    initial = options[answer.score] if answer is not None else None
    written = (answer.comment or "")[:COMMENT_MAX] if answer is not None else ""
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"*{safe(pulse.question, QUESTION_SHOWN)}*")),
        InputBlock(
            block_id=field_block(CommentField.SCORE),
            label="Your answer",
            element=StaticSelectElement(
                action_id=Action.INPUT,
                options=list(options.values()),
                initial_option=initial,
                placeholder="1 to 5",
            ),
        ),
        InputBlock(
            block_id=field_block(CommentField.COMMENT),
            label="Comment",
            hint="Only the hypercare leads read comments; everyone else sees totals.",
            element=PlainTextInputElement(
                action_id=Action.INPUT,
                multiline=True,
                max_length=COMMENT_MAX,
                initial_value=written or None,
                placeholder="What works well, what gets in your way?",
            ),
        ),
    ]
    view = View(
        type="modal",
        callback_id=Callback.PULSE_COMMENT_MODAL,
        private_metadata=str(pulse.id),
        title="How is it going?",
        submit="Send",
        close="Cancel",
        blocks=blocks,
    )
    return view.to_dict()


def comment_recorded_view(result: VoteResult) -> dict[str, Any]:
    """What the comment form becomes once the answer is stored."""
    if result.outcome is VoteOutcome.CHANGED:
        said = f"Changed your answer from {result.previous} to {result.score}"
    else:
        said = f"You said {result.score}/5"
    text = f":white_check_mark: Thanks — {said}, with your comment. The hypercare leads read it."
    view = View(
        type="modal",
        callback_id=Callback.PULSE_COMMENT_DONE,
        title="How is it going?",
        close="Done",
        blocks=[SectionBlock(text=MarkdownTextObject(text=text))],
    )
    return view.to_dict()


# -- `/hypercare pulse` -----------------------------------------------------------------------


def send_answer(result: SendResult, program: Program) -> str:
    """The private answer to a lead's `/hypercare pulse`."""
    pulse = result.pulse
    if result.outcome is SendOutcome.NOT_LEAD:
        return "Only hypercare leads can send the pulse. It goes out on its own schedule."
    if result.outcome is SendOutcome.NOT_SET_UP:
        return (
            "The user pulse is not set up: add a `pulse:` section to the program file "
            "(see the README)."
        )
    if result.outcome is SendOutcome.NOBODY:
        return (
            "Nobody filed a report in the last 7 days, so there is nobody to ask: nothing was sent."
        )
    if result.outcome is SendOutcome.TOO_SOON and pulse is not None:
        hours = int(RESEND_AFTER.total_seconds() // 3600)
        return (
            f"A pulse went out {when(pulse.created_at)} ({_audience(pulse)}); it is open until "
            f"{when(pulse.closes_at)}. Send another at least {hours} h after it."
        )
    assert pulse is not None
    return (
        f":white_check_mark: Pulse sent to {_audience(pulse)}. It takes answers until "
        f"{when(pulse.closes_at)}; `{COMMAND} status` shows the score."
    )


def _audience(pulse: Pulse) -> str:
    if pulse.audience is PulseAudience.REPORTERS:
        people = "person" if pulse.recipients == 1 else "people"
        return f"{pulse.recipients} {people} who reported in the last 7 days, by DM"
    return f"<#{pulse.channel_id}>"


def comments_message(answers: Sequence[PulseAnswer] | None, total: int) -> tuple[str, list[Block]]:
    """A lead's private list of recent comments (None: the asker is no lead)."""
    if answers is None:
        text = "Only hypercare leads can read pulse comments; everyone sees the totals."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    if not answers:
        text = "No pulse comments in the last 30 days."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    head = f"Pulse comments: the latest {len(answers)} of {total} (last 30 days)"
    lines = [
        f"• *{a.score}/5* {safe(' '.join((a.comment or '').split()), COMMENT_SHOWN)} — "
        f"{when(a.updated_at)}"
        for a in answers
    ]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f":speech_balloon: *{head}*"))]
    blocks += [SectionBlock(text=MarkdownTextObject(text=line)) for line in lines]
    blocks.append(
        ContextBlock(
            elements=[MarkdownTextObject(text="Private to you: comments are never posted.")]
        )
    )
    return head, blocks


# -- satisfaction figures ---------------------------------------------------------------------


def figures(s: Satisfaction) -> str:
    """`CSAT 82% · 14 answers · mean 4.1/5`, or that there were none."""
    if not s.responses or s.csat_percent is None or s.mean is None:
        return "no answers"
    answers = "1 answer" if s.responses == 1 else f"{s.responses} answers"
    return f"CSAT {s.csat_percent:.0f}% · {answers} · mean {s.mean:.1f}/5"


def change(trend: SatisfactionTrend, before: str) -> str:
    """How CSAT moved against the period before (`before`: "the week before")."""
    now, then = trend.current.csat_percent, trend.previous.csat_percent
    if then is None:
        return f"no answers {before}"
    if now is None:
        return f"{before}: {figures(trend.previous)}"
    delta = now - then
    if abs(delta) < STEADY_POINTS:
        return f"about the same as {before} ({then:.0f}%)"
    way = ":arrow_up: up" if delta > 0 else ":arrow_down: down"
    return f"{way} {abs(delta):.0f} points on {before} ({then:.0f}%)"


def status_blocks(trend: SatisfactionTrend) -> list[Block]:
    """`/hypercare status`: the last 7 days' score and its trend."""
    text = f"*User pulse* (last 7 days) — {figures(trend.current)}"
    if trend.current.responses or trend.previous.responses:
        text += f" · {change(trend, 'the 7 days before')}"
    return [SectionBlock(text=MarkdownTextObject(text=text))]


def weekly_text(trend: SatisfactionTrend) -> str:
    """The weekly review's *User pulse* section (comments counted, never quoted)."""
    current = trend.current
    line = f"*User pulse* — {figures(current)}"
    if current.comments:
        line += f" · {current.comments} with a comment (leads: `{COMMAND} pulse comments`)"
    if current.responses or trend.previous.responses:
        moved = change(trend, "the week before")
        line += f"\n{moved[:1].upper()}{moved[1:]}"
    else:
        line += "\n_No answers this week or the week before._"
    return line


def weekly_plain(trend: SatisfactionTrend) -> list[str]:
    """The same section as plain text, for `hypercare-bot digest weekly --dry-run`."""
    current, previous = trend.current, trend.previous
    lines = ["User pulse", f"This week: {figures(current)}"]
    if current.comments:
        lines.append(f"{current.comments} answer(s) with a comment")
    lines.append(f"The week before: {figures(previous)}")
    return lines
