"""Block Kit for lessons learned: the form, its answer, the list, and the post-mortem's
*Add a lesson* button."""

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

from bot.domain import Feedback, Lesson, LessonKind, LinkedItem
from bot.lessons.service import ITEMS_MAX, TEXT_MAX, LessonField
from bot.slack.blocks.digest import SECTION_TEXT_MAX
from bot.slack.blocks.tickets import when
from bot.slack.ids import LESSON_BLOCK, Action, Callback
from bot.slack.text import escape, safe

LESSON_SHOWN = 280  # characters of a lesson's text in a list: a list is for scanning


def field_block(field: LessonField) -> str:
    """The block id of a form field."""
    return LESSON_BLOCK + field


def modal(prefix: str, text: str = "", items: Sequence[str] = ()) -> dict[str, Any]:
    """The lesson form, prefilled with its text and the ids of the items it names."""
    kinds = [Option(value=k.value, text=k.label) for k in LessonKind]
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text="Record what this hypercare taught us, so the next one goes better. "
                "Blameless: about the system and the way we work, not about people."
            )
        ),
        InputBlock(
            block_id=field_block(LessonField.TEXT),
            label="Lesson",
            element=PlainTextInputElement(
                action_id=Action.INPUT,
                multiline=True,
                max_length=TEXT_MAX,
                initial_value=text[:TEXT_MAX] or None,
                placeholder="Certificates of third parties need an expiry alert too",
            ),
        ),
        InputBlock(
            block_id=field_block(LessonField.KIND),
            label="Kind",
            element=StaticSelectElement(
                action_id=Action.INPUT, options=kinds, placeholder="Choose…"
            ),
        ),
        InputBlock(
            block_id=field_block(LessonField.ITEMS),
            label="Linked items",
            optional=True,
            hint=f"Item ids separated by commas, up to {ITEMS_MAX}.",
            element=PlainTextInputElement(
                action_id=Action.INPUT,
                max_length=300,
                initial_value=", ".join(items) or None,
                placeholder=f"{prefix}-42, {prefix}-45",
            ),
        ),
    ]
    view = View(
        type="modal",
        callback_id=Callback.LESSON_MODAL,
        title="Lesson learned",
        submit="Record",
        close="Cancel",
        blocks=blocks,
    )
    return view.to_dict()


def _items(items: Sequence[LinkedItem]) -> str:
    return ", ".join(f"<{i.link}|{escape(i.short_id)}>" if i.link else i.short_id for i in items)


def recorded_view(lesson: Lesson) -> dict[str, Any]:
    """What the form becomes once the lesson is stored."""
    linked = f" It names {_items(lesson.items)}." if lesson.items else ""
    text = (
        f":bulb: Recorded *{lesson.short_id}* ({lesson.kind.label.lower()}).{linked}\n"
        "Everyone sees it in `/hypercare lessons` and in the weekly review."
    )
    view = View(
        type="modal",
        callback_id=Callback.LESSON_DONE,
        title="Lesson learned",
        close="Done",
        blocks=[SectionBlock(text=MarkdownTextObject(text=text))],
    )
    return view.to_dict()


def lesson_line(lesson: Lesson) -> str:
    """One lesson in a list: id, text, author, linked items, date."""
    parts = [f"<@{lesson.author_id}>"]
    if lesson.items:
        parts.append(_items(lesson.items))
    parts.append(when(lesson.created_at))
    return f"• *{lesson.short_id}* {safe(lesson.text, LESSON_SHOWN)} — " + " · ".join(parts)


def by_kind(lessons: Sequence[Lesson]) -> list[tuple[LessonKind, list[Lesson]]]:
    """Lessons grouped under the four kinds, in the register's order, empty kinds left out."""
    groups = [(kind, [x for x in lessons if x.kind is kind]) for kind in LessonKind]
    return [(kind, group) for kind, group in groups if group]


def grouped_text(lessons: Sequence[Lesson]) -> list[str]:
    """Lessons by kind as mrkdwn texts, each within a section's limit."""
    texts: list[str] = []
    for kind, group in by_kind(lessons):
        current = f"*{kind.label}*"
        for lesson in group:
            line = lesson_line(lesson)
            if len(current) + 1 + len(line) > SECTION_TEXT_MAX:
                texts.append(current)
                current = f"*{kind.label}* (continued)"
            current += "\n" + line
        texts.append(current)
    return texts


def lessons_message(lessons: Sequence[Lesson], total: int) -> tuple[str, list[Block]]:
    """The private answer to `/hypercare lessons`: the latest lessons by kind."""
    if not lessons:
        text = "No lessons recorded yet. Add one with `/hypercare lesson &lt;what we learned&gt;`."
        return text, [SectionBlock(text=MarkdownTextObject(text=text))]
    head = f"Lessons learned: the latest {len(lessons)} of {total}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f":bulb: *{head}*"))]
    blocks += [SectionBlock(text=MarkdownTextObject(text=t)) for t in grouped_text(lessons)]
    more = total - len(lessons)
    footer = f"_…and {more} more._ " if more > 0 else ""
    footer += "Add one with `/hypercare lesson &lt;what we learned&gt;`."
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=footer)]))
    return head, blocks


def offer(feedback: Feedback) -> tuple[str, list[Block]]:
    """The message under a post-mortem draft in the thread: *Add a lesson* about the item."""
    text = f":bulb: What did {feedback.short_id} teach us? Add it to the lessons learned."
    button = ButtonElement(text="Add a lesson", action_id=Action.ADD_LESSON, value=str(feedback.id))
    return text, [SectionBlock(text=MarkdownTextObject(text=text)), ActionsBlock(elements=[button])]


def usage(prefix: str) -> str:
    """How `/hypercare lesson` is used."""
    return (
        "Use `/hypercare lesson &lt;what we learned&gt;`: a form opens to choose its kind and link "
        f"items (ids like {prefix}-42 in the text are linked for you)."
    )
