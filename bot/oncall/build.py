"""Build the on-call capability: who is on call, and the hand-off notices."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.oncall.service import OnCallService
from bot.parts import Job, Part
from bot.ports import Clock, HandoffNotifier
from storage.jobs import JobRuns
from storage.oncall import OverrideRepository

HANDOFF_CHECK_SECONDS = 60


def build_oncall(
    *,
    program: Program,
    sessions: sessionmaker[Session],
    notifier: HandoffNotifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    user_for_email: Callable[[str], str | None],
) -> Part[OnCallService]:
    """The on-call service; with rotas in the program, a job that announces each hand-off."""
    service = OnCallService(
        program=program,
        clock=clock,
        jobs=JobRuns(sessions),
        notifier=notifier,
        on_enqueued=on_enqueued,
        overrides=OverrideRepository(sessions),
        user_for_email=user_for_email,
    )
    jobs = []
    if program.oncall is not None:
        jobs.append(Job("oncall-handoffs", service.announce_handoffs, HANDOFF_CHECK_SECONDS))
    return Part(service, outbox=service.handlers(), jobs=jobs)
