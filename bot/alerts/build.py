"""Build gateway alerting: the alert service, its announcer and one poll job per source."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

from bot.alerts.announcer import AlertAnnouncer
from bot.alerts.engine.build import build_rules
from bot.alerts.service import AlertService
from bot.config import Program
from bot.domain import Alert, Effect
from bot.parts import Job, Part
from bot.ports import AlertNotifier, Clock, MetricSource
from storage.alerts import AlertRepository

FiredFollowUps = Callable[[Alert, bool], Sequence[Effect]]
"""Effects to queue with a fired alert, given the alert and whether its rule opens a ticket."""


def build_alerts(
    *,
    program: Program,
    repo: AlertRepository,
    sources: Mapping[str, MetricSource],
    notifier: AlertNotifier,
    clock: Clock,
    on_enqueued: Callable[[], None],
    on_fired: FiredFollowUps,
) -> Part[AlertService] | None:
    """Gateway alerting when the program has a `metrics:` section, else None."""
    metrics = program.metrics
    if metrics is None:
        return None
    opens_ticket = {r.id for r in metrics.rules if r.auto_ticket}
    service = AlertService(
        repo=repo,
        sources=sources,
        rules=build_rules(metrics, program.channels.alerts),
        notifier=notifier,
        clock=clock,
        notice_channel=program.channels.alerts,
        failures_before_down=metrics.failures_before_down,
        on_enqueued=on_enqueued,
        on_fired=lambda alert: on_fired(alert, alert.rule_id in opens_ticket),
    )
    announcer = AlertAnnouncer(repo=repo, notifier=notifier, silenced_until=service.silenced_until)
    # One job per source: a slow source never delays another; reads never overlap. Only the
    # leading replica polls: the rule engine's memory is one record in the database.
    jobs = [
        Job(f"metrics-{s.id}", functools.partial(service.poll, s.id), s.interval)
        for s in metrics.sources
    ]
    return Part(service, outbox=announcer.handlers(), jobs=jobs, closers=[service.close])
