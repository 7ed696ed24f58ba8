"""The lessons-learned register: record a lesson (its kind, text, the items it names and its
author) and list the latest ones."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum

from bot.config import Program
from bot.domain import Lesson, LessonDraft, LessonKind
from bot.ports import Clock
from storage.lessons import LessonRepository

log = logging.getLogger(__name__)

TEXT_MAX = 1000  # a lesson is a few sentences; longer belongs in a document it links to
ITEMS_MAX = 20
LIST_MAX = 20  # `/hypercare lessons` shows this many, then "…and N more"
_SEPARATORS = re.compile(r"[\s,;]+")


class LessonField(StrEnum):
    """The fields of the lesson form; problems are keyed by these."""

    TEXT = "text"
    KIND = "kind"
    ITEMS = "items"


@dataclass(frozen=True)
class LessonForm:
    """What someone wrote in the lesson form (user text)."""

    text: str
    kind: str
    items: str  # "HC-4, HC-7": the ids of the items it names, any separator


class LessonService:
    """Records lessons and reads the register."""

    def __init__(self, *, repo: LessonRepository, program: Program, clock: Clock) -> None:
        self._repo = repo
        self._program = program
        self._clock = clock
        prefix = re.escape(program.id_prefix)
        self._reference = re.compile(rf"^{prefix}-(\d{{1,9}})$", re.IGNORECASE)
        self._mention = re.compile(rf"(?<![\w-]){prefix}-(\d{{1,9}})(?![\w-])", re.IGNORECASE)

    def text_problem(self, text: str) -> str | None:
        """Why command text cannot start a lesson (None when it can; empty text may)."""
        if len(text.strip()) > TEXT_MAX:
            return (
                f"A lesson is at most {TEXT_MAX:,} characters (this one has "
                f"{len(text.strip()):,}). Say it shorter and link the items for the detail."
            )
        return None

    def mentioned(self, text: str) -> list[str]:
        """The item ids a text names (HC-4), in order, each once: the form links them."""
        ids = dict.fromkeys(int(m.group(1)) for m in self._mention.finditer(text))
        return [f"{self._program.id_prefix}-{i}" for i in ids][:ITEMS_MAX]

    def check(
        self, form: LessonForm, author: str
    ) -> tuple[LessonDraft | None, dict[LessonField, str]]:
        """The lesson a filled-in form describes, or what is wrong with it, by field."""
        problems: dict[LessonField, str] = {}
        text = form.text.strip()
        if not text:
            problems[LessonField.TEXT] = "Please write the lesson."
        elif len(text) > TEXT_MAX:
            problems[LessonField.TEXT] = f"Please keep the lesson under {TEXT_MAX:,} characters."
        if form.kind not in LessonKind._value2member_map_:
            problems[LessonField.KIND] = "Please choose what kind of lesson it is."
        ids, item_problem = self._item_ids(form.items)
        if item_problem:
            problems[LessonField.ITEMS] = item_problem
        if problems:
            return None, problems
        return LessonDraft(LessonKind(form.kind), text, author, tuple(ids)), {}

    def _item_ids(self, raw: str) -> tuple[list[int], str | None]:
        tokens = [t for t in _SEPARATORS.split(raw.strip()) if t]
        example = f"{self._program.id_prefix}-42"
        ids: list[int] = []
        for token in tokens:
            match = self._reference.match(token)
            if match is None:
                return [], f"“{token[:40]}” is not an item id: use ids like {example}."
            ids.append(int(match.group(1)))
        ids = list(dict.fromkeys(ids))
        if len(ids) > ITEMS_MAX:
            return [], f"Please link at most {ITEMS_MAX} items."
        missing = sorted(set(ids) - self._repo.existing(ids))
        if missing:
            names = ", ".join(f"{self._program.id_prefix}-{i}" for i in missing)
            return [], f"I know no item {names}."
        return ids, None

    def record(self, draft: LessonDraft) -> Lesson:
        """Store a checked lesson."""
        lesson = self._repo.add(draft, self._clock())
        log.info("lesson %s recorded (%s)", lesson.short_id, lesson.kind.value)
        return lesson

    def latest(self, limit: int = LIST_MAX) -> tuple[list[Lesson], int]:
        """The newest lessons, and how many the register holds."""
        return self._repo.latest(limit)

    def of_item(self, feedback_id: int) -> list[Lesson]:
        """The lessons that name an item."""
        return self._repo.of_item(feedback_id)
