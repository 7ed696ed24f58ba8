"""Build the user pulse: its service, the outbox kind that posts it, and the job that sends it
when its slot comes."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.parts import Job, Part
from bot.ports import Clock, PulseNotifier
from bot.pulse.service import PulseService
from storage.pulse import PulseRepository


def build_pulse(
    *,
    program: Program,
    sessions: sessionmaker[Session],
    notifier: PulseNotifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    check_seconds: float,
) -> Part[PulseService]:
    """The pulse; with a `pulse:` section, a job that asks whether its slot is due (each slot is
    sent once, whoever asks)."""
    service = PulseService(
        program=program,
        repo=PulseRepository(sessions),
        clock=clock,
        notifier=notifier,
        on_enqueued=on_enqueued,
    )
    jobs = [Job("pulse", service.post_due, check_seconds)] if program.pulse is not None else []
    return Part(service, outbox=service.handlers(), jobs=jobs)
