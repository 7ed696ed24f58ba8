"""Lessons-learned listeners: `/hypercare lesson [text]`, *Add a lesson* under a post-mortem,
the form's submission and `/hypercare lessons`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.lessons.service import LessonField, LessonForm
from bot.slack.blocks import lessons as blocks
from handlers import forms
from handlers.services import Services


def open_lesson_modal(
    ack: Ack,
    text: str,
    command: dict[str, Any],
    client: WebClient,
    services: Services,
    after_ack: Callable[[Callable[[], object]], None],
) -> None:
    """`/hypercare lesson [text]`: the form, prefilled with the text and the ids it names."""
    if problem := services.lessons.text_problem(text):
        ack(
            response_type="ephemeral", text=f"{problem}\n{blocks.usage(services.program.id_prefix)}"
        )
        return
    ack()
    view = blocks.modal(services.program.id_prefix, text, services.lessons.mentioned(text))
    after_ack(lambda: client.views_open(trigger_id=command["trigger_id"], view=view))


def open_lesson_from_postmortem(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, services: Services
) -> None:
    """*Add a lesson* under a post-mortem: the same form, with the item linked."""
    ack()
    feedback_id = forms.numeric_id(action)
    items = [f"{services.program.id_prefix}-{feedback_id}"] if feedback_id is not None else []
    view = blocks.modal(services.program.id_prefix, items=items)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def submit_lesson(ack: Ack, body: dict[str, Any], view: dict[str, Any], services: Services) -> None:
    """Store the lesson and say so in the form; problems go back on their fields."""
    form = LessonForm(
        text=forms.text_input(view, blocks.field_block(LessonField.TEXT)),
        kind=forms.select_input(view, blocks.field_block(LessonField.KIND)),
        items=forms.text_input(view, blocks.field_block(LessonField.ITEMS)),
    )
    draft, problems = services.lessons.check(form, body["user"]["id"])
    if draft is None:
        errors = {blocks.field_block(field): text for field, text in problems.items()}
        ack(response_action="errors", errors=errors)
        return
    lesson = services.lessons.record(draft)
    ack(response_action="update", view=blocks.recorded_view(lesson))


def show_lessons(ack: Ack, services: Services) -> None:
    """`/hypercare lessons`: the latest lessons by kind, privately."""
    text, rendered = blocks.lessons_message(*services.lessons.latest())
    ack(response_type="ephemeral", text=text, blocks=rendered)
