"""The weekly review: the week's trends as charts, recurring themes, breaches and readiness.

Scheduled like the daily digest (DST-safe slot, claimed once as `(digest:weekly, local
date)`), posted as one message, with the charts uploaded as PNG files in its thread.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.config import Program
from bot.domain import (
    Chart,
    Effect,
    ItemLine,
    MeanTimes,
    SatisfactionTrend,
    Section,
    WeeklyReview,
)
from bot.oncall.rota import local_days
from bot.ports import Clock, SatisfactionSource, WeeklyNotifier
from bot.reports import charts
from bot.reports.readiness import assess
from bot.reports.schedule import due_slot, previous_slot
from storage.jobs import JobRuns
from storage.kpis import Kpis
from storage.lessons import LessonRepository
from storage.rca import RootCauseRepository
from storage.weekly import WeeklyQueries

log = logging.getLogger(__name__)

POST_WEEKLY = "digest.post_weekly"
UPLOAD_CHART = "digest.upload_chart"
WEEKLY_JOB = "digest:weekly"
HOUR = 3600.0
LESSONS_SHOWN = 15  # the week's lessons in the review; the rest are in `/hypercare lessons`
THEMES_SHOWN = 5  # root-cause categories
THEME_ITEMS = 3  # the latest items shown for each category


def _hours_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    hours = seconds / HOUR
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


class WeeklyService:
    """Builds the weekly review and posts each scheduled one once."""

    def __init__(
        self,
        *,
        program: Program,
        kpis: Kpis,
        queries: WeeklyQueries,
        clock: Clock,
        jobs: JobRuns | None = None,
        notifier: WeeklyNotifier | None = None,
        short_id: Callable[[int], str] = str,
        on_enqueued: Callable[[], None] = lambda: None,
        lessons: LessonRepository | None = None,
        root_causes: RootCauseRepository | None = None,
        satisfaction: SatisfactionSource | None = None,
    ) -> None:
        self._lessons = lessons
        self._satisfaction = satisfaction  # the user pulse's answers; None without a pulse
        self._root_causes = root_causes
        self._program = program
        self._kpis = kpis
        self._queries = queries
        self._clock = clock
        self._jobs = jobs
        self._notifier = notifier
        self._short_id = short_id
        self._on_enqueued = on_enqueued

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {POST_WEEKLY: self._post, UPLOAD_CHART: self._upload}

    def post_due(self) -> bool:
        """Claim and queue the weekly review if its slot is due; True when this call did."""
        weekly, channel = self._program.reports.weekly, self._program.channels.digest
        if channel is None or self._jobs is None or not weekly.enabled:
            return False
        now = self._clock()
        due = due_slot(weekly, self._program.zone, now, weekly.grace_period)
        if due is None:
            return False
        payload: dict[str, object] = {"at": due.slot.at_utc.isoformat(), "late": due.late}
        effect = Effect(POST_WEEKLY, payload, f"{POST_WEEKLY}:{due.key}")
        if not self._jobs.claim(WEEKLY_JOB, due.key, now, [effect]):
            return False
        log.info("weekly review for %s queued%s", due.key, " (late)" if due.late else "")
        self._on_enqueued()
        return True

    def _post(self, payload: dict[str, object]) -> Sequence[Effect]:
        channel = self._program.channels.digest
        if channel is None or self._notifier is None:
            return []
        slot_at = dt.datetime.fromisoformat(str(payload["at"]))
        review = self.build(max(slot_at, self._clock()), slot_at, bool(payload.get("late")))
        posted = self._notifier.post_weekly(channel, review)
        # Each chart is its own outbox row: a failed upload is retried without re-posting.
        return [
            Effect(
                UPLOAD_CHART,
                {
                    "channel": channel,
                    "thread_ts": posted.ts,
                    "title": chart.title,
                    "filename": chart.filename,
                    "png": base64.b64encode(chart.png).decode("ascii"),
                },
                f"{UPLOAD_CHART}:{payload['at']}:{chart.filename}",
            )
            for chart in review.charts
        ]

    def _upload(self, payload: dict[str, object]) -> Sequence[Effect]:
        if self._notifier is None:
            return []
        chart = Chart(
            png=base64.b64decode(str(payload["png"])),
            title=str(payload["title"]),
            filename=str(payload["filename"]),
            categories=[],
            series={},
            no_data=False,
            texts=[],
        )
        self._notifier.upload_chart(str(payload["channel"]), str(payload["thread_ts"]), chart)
        return []

    def build(
        self,
        until: dt.datetime | None = None,
        slot_at: dt.datetime | None = None,
        late: bool = False,
    ) -> WeeklyReview:
        """The review of the week since the previous scheduled one."""
        program, zone = self._program, self._program.zone
        until = until or self._clock()
        since = previous_slot(program.reports.weekly, zone, slot_at or until).at_utc
        times = self._kpis.mean_times(since, until)
        drawn = period_charts(program, self._kpis, self._queries, since, until, times)
        error_rates, latencies, rendered = drawn.error_rates, drawn.latencies, drawn.charts
        local = until.astimezone(zone)
        lessons, lessons_total = (
            self._lessons.between(since, until, LESSONS_SHOWN) if self._lessons else ([], 0)
        )
        start = program.window.start if program.window is not None else program.go_live
        window_start = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC)
        themes = (
            self._root_causes.themes(window_start, until, THEMES_SHOWN, THEME_ITEMS)
            if self._root_causes
            else []
        )
        return WeeklyReview(
            title=f"Weekly review · {program.name} · week to {local:%a %d %b}",
            since=since,
            until=until,
            late=late,
            numbers=(
                *self._numbers(since, until, times),
                *_gateway_numbers(error_rates, latencies),
            ),
            sections=(self._themes(since, until), self._breaches(since, until)),
            readiness=assess(program, self._kpis, until, self._queries, self._satisfaction),
            charts=rendered,
            lessons=tuple(lessons),
            lessons_total=lessons_total,
            root_causes=tuple(themes),
            root_causes_since=start,
            satisfaction=self._pulse(since, until),
        )

    def _pulse(self, since: dt.datetime, until: dt.datetime) -> SatisfactionTrend | None:
        """The week's answers to the user pulse against the review period before."""
        if self._satisfaction is None:
            return None
        before = previous_slot(self._program.reports.weekly, self._program.zone, since).at_utc
        return SatisfactionTrend(
            current=self._satisfaction.satisfaction(since, until),
            previous=self._satisfaction.satisfaction(before, since),
            since=since,
            until=until,
        )

    def _numbers(
        self, since: dt.datetime, until: dt.datetime, times: Mapping[str, MeanTimes]
    ) -> tuple[str, ...]:
        opened = sum(self._kpis.opened(since, until).values())
        open_now = self._kpis.open_counts(until)
        alerts = self._kpis.alert_stats(since, until)
        critical = self._program.severities[0]  # most urgent first (the program file's order)
        lines = [
            f"{opened} opened · {sum(open_now.values())} open now · "
            f"{self._kpis.critical_open(until, [critical.id])} {critical.label.lower()} "
            f"(feedback or firing alerts) · {self._kpis.sla_breaches(since, until)} SLA breach(es)",
            f"{alerts.fired} alert(s) fired, {alerts.resolved} resolved, "
            f"{alerts.still_firing} still firing · mean duration "
            f"{_hours_text(alerts.mean_duration_seconds)}",
        ]
        for severity in self._program.severities:
            mean = times.get(severity.id)
            mtta = mean.mtta_seconds if mean else None
            mttr = mean.mttr_seconds if mean else None
            if mtta is not None or mttr is not None:
                lines.append(
                    f"{severity.label}: MTTA {_hours_text(mtta)} · MTTR {_hours_text(mttr)}"
                )
        return tuple(lines)

    def _themes(self, since: dt.datetime, until: dt.datetime) -> Section:
        themes = self._queries.themes(since, until, 5)
        labels = {c.id: c.label for c in self._program.components}
        labels |= {c.id: c.label for c in self._program.categories}
        lines = tuple(
            ItemLine(
                ref=labels.get(key, key),
                summary="",
                severity="",
                link=None,
                detail=f"{n} report(s) · {kind}",
            )
            for kind in ("component", "category")
            for key, n in themes[kind]
        )
        return Section("Recurring themes", lines, len(lines), "", "No reports this week.")

    def _breaches(self, since: dt.datetime, until: dt.datetime) -> Section:
        breaches = self._queries.breaches(since, until, 20)
        lines = tuple(
            ItemLine(
                ref=self._short_id(b.feedback_id)
                if b.feedback_id is not None
                else f"alert {b.alert_id}",
                summary=b.summary,
                severity=b.severity,
                link=b.link,
                detail=f"resolve-by passed {b.breached_at.astimezone(self._program.zone):%a %H:%M}",
                flag="breach",
            )
            for b in breaches
        )
        return Section("SLA breaches", lines, len(lines), "", "No SLA breaches this week.")


@dataclass(frozen=True)
class PeriodCharts:
    """A period's four charts, and the daily gateway figures they drew (for its numbers)."""

    charts: tuple[Chart, ...]
    error_rates: Mapping[str, tuple[float | None, ...]]  # ratio per local day, by source
    latencies: Mapping[str, tuple[float | None, ...]]  # ms per local day, by source

    def gateway_lines(self) -> list[str]:
        """A line per metric source: the period's mean and worst day of both figures."""
        return _gateway_numbers(self.error_rates, self.latencies)


def period_charts(
    program: Program,
    kpis: Kpis,
    queries: WeeklyQueries,
    since: dt.datetime,
    until: dt.datetime,
    times: Mapping[str, MeanTimes],
) -> PeriodCharts:
    """Feedback flow, backlog and gateway health per local day of [since, until), and the
    period's mean times (`times`) by severity: the weekly review's charts, and the exit
    report's over the whole window."""
    severities = [s.id for s in program.severities]
    labels = tuple(charts.SeverityLabel(s.id, s.label) for s in program.severities)
    period = local_days(since, until, program.zone)
    volume = kpis.volume_by_day(period, severities)
    backlog = kpis.open_backlog_by_day(period, severities)
    days = tuple(day.day for day in volume)

    def series(values: Callable[[str, int], float]) -> dict[str, tuple[float | None, ...]]:
        return {s: tuple(values(s, i) for i in range(len(days))) for s in severities}

    flow = charts.FeedbackFlow(
        labels,
        charts.DailySeries(days, series(lambda s, i: volume[i].opened_by_severity.get(s, 0))),
        charts.DailySeries(days, series(lambda s, i: volume[i].resolved_by_severity.get(s, 0))),
    )
    open_items = charts.DailySeries(
        tuple(b.day for b in backlog),
        {s: tuple(float(b.open_by_severity.get(s, 0)) for b in backlog) for s in severities},
    )
    metric_days, error_rates = queries.metric_days(period, "ratio")
    _, latencies = queries.metric_days(period, "ms")
    percent = {
        source: tuple(None if v is None else v * 100 for v in values)
        for source, values in error_rates.items()
    }
    health = charts.GatewayHealth(
        charts.DailySeries(metric_days, percent), charts.DailySeries(metric_days, latencies)
    )
    response = charts.ResponseTimes(
        labels,
        {s: _hours(times.get(s), "mtta_seconds") for s in severities},
        {s: _hours(times.get(s), "mttr_seconds") for s in severities},
    )
    rendered = (
        charts.feedback_flow_chart(flow),
        charts.backlog_chart(charts.Backlog(labels, open_items)),
        charts.gateway_health_chart(health),
        charts.response_times_chart(response),
    )
    return PeriodCharts(rendered, error_rates, latencies)


def _hours(mean: MeanTimes | None, field: str) -> float | None:
    seconds = getattr(mean, field) if mean is not None else None
    return None if seconds is None else float(seconds) / HOUR


def _gateway_numbers(
    error_rates: Mapping[str, tuple[float | None, ...]],
    latencies: Mapping[str, tuple[float | None, ...]],
) -> list[str]:
    """One line per metric source: the week's mean and worst day of error rate and latency."""
    lines = []
    for source in sorted(set(error_rates) | set(latencies)):
        parts = []
        rates = [v for v in error_rates.get(source, ()) if v is not None]
        if rates:
            parts.append(
                f"error rate {sum(rates) / len(rates) * 100:.2f} % a day on average, "
                f"worst day {max(rates) * 100:.2f} %"
            )
        slow = [v for v in latencies.get(source, ()) if v is not None]
        if slow:
            parts.append(f"latency {sum(slow) / len(slow):.0f} ms, worst day {max(slow):.0f} ms")
        if parts:
            lines.append(f"Gateway {source}: " + "; ".join(parts))
    return lines
