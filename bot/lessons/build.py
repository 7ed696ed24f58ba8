"""Build the lessons-learned capability: its service (it has no side effects to queue)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.lessons.service import LessonService
from bot.parts import Part
from bot.ports import Clock
from storage.lessons import LessonRepository


def build_lessons(
    *, program: Program, sessions: sessionmaker[Session], clock: Clock
) -> Part[LessonService]:
    """The register of lessons learned."""
    return Part(
        LessonService(
            repo=LessonRepository(sessions, program.id_prefix), program=program, clock=clock
        )
    )
