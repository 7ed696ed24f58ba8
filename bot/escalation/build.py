"""Build the escalation capability: timed tiers, the tick that finds due steps, the pages."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program
from bot.escalation.items import Items
from bot.escalation.paging import PageSender, acknowledged_effects, reescalated_effects
from bot.escalation.service import EscalationService
from bot.oncall.service import OnCallService
from bot.parts import Job, Part
from bot.ports import Clock, Pager
from storage.escalations import EscalationRepository


def build_escalation(
    *,
    program: Program,
    sessions: sessionmaker[Session],
    items: Items,
    pager: Pager,
    oncall: OnCallService,
    clock: Clock,
    on_enqueued: Callable[[], None],
    tick_seconds: float,
) -> Part[EscalationService]:
    """The escalation service and its pages; the tick runs only when a policy exists."""
    repo = EscalationRepository(sessions)
    service = EscalationService(
        program=program,
        repo=repo,
        items=items,
        clock=clock,
        on_call_ids=oncall.on_call_ids,
        on_enqueued=on_enqueued,
        acknowledged_effects=acknowledged_effects,
        reescalated_effects=reescalated_effects,
    )
    sender = PageSender(
        program=program,
        service=service,
        repo=repo,
        pager=pager,
        clock=clock,
        on_call=oncall.on_call_now,
    )
    # Due times live in the database; the tick only looks for the ones that have come.
    # The tick also wakes at the next due time, so a step is paged when it falls due rather
    # than up to an interval later.
    tick = Job("escalation-tick", service.tick, tick_seconds, next_in=service.next_tick_in)
    jobs = [tick] if service.enabled else []
    return Part(
        service,
        outbox=sender.handlers(),
        batch_outbox=sender.batch_handlers(),
        bulk_kinds=sender.bulk_kinds(),
        first_kinds=sender.first_kinds(),
        jobs=jobs,
        closers=[sender.close],
    )
