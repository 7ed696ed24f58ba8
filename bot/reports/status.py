"""Where hypercare stands: exit readiness, open items and who is on call, for status and Home."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Program
from bot.domain import Readiness, Section
from bot.oncall.rota import OnCallNow
from bot.ports import Clock, KpiSource, MetricHistory, SatisfactionSource
from bot.reports.digest import DigestService
from bot.reports.readiness import assess


@dataclass(frozen=True)
class Overview:
    """The program at a glance for one viewer."""

    readiness: Readiness
    open_counts: dict[str, int]
    on_call: OnCallNow | None
    mine: Section
    at: dt.datetime


class StatusService:
    """Answers `/hypercare status` and builds the Home tab's content."""

    def __init__(
        self,
        *,
        program: Program,
        kpis: KpiSource,
        digests: DigestService,
        clock: Clock,
        on_call: Callable[[], OnCallNow | None] = lambda: None,
        metrics: MetricHistory | None = None,
        satisfaction: SatisfactionSource | None = None,
    ) -> None:
        self._program = program
        self._kpis = kpis
        self._digests = digests
        self._clock = clock
        self._on_call = on_call
        self._metrics = metrics
        self._satisfaction = satisfaction

    def readiness(self) -> Readiness:
        """Each exit criterion met or not, the verdict, and the days left in the window."""
        return assess(self._program, self._kpis, self._clock(), self._metrics, self._satisfaction)

    def ownership(self) -> tuple[int, int]:
        """Open items now, and how many of them nobody owns."""
        now = self._clock()
        return sum(self._kpis.open_counts(now).values()), self._kpis.unowned_open(now)

    def overview(self, user: str) -> Overview:
        """Readiness, open items by severity, who is on call, and the viewer's own reports."""
        now = self._clock()
        return Overview(
            readiness=assess(self._program, self._kpis, now, self._metrics, self._satisfaction),
            open_counts=dict(self._kpis.open_counts(now)),
            on_call=self._on_call(),
            mine=self._digests.mine(user),
            at=now,
        )
