"""The hypercare closing report (the hand-over): the whole window's KPIs with weekly trends,
the exit criteria judged, the open items handed over, known issues, root causes, lessons
learned and the charts.

`ExitReportService.build(as_of)` gathers a frozen `ExitReport` from what the other reports
already compute (the KPIs, readiness, the weekly review's charts, the registers), and
`bot.reports.exit_markdown` writes it as Markdown. Nothing but `request` reads the clock, and
every list has a full sort order, so the same data and `as_of` give the same files, byte for
byte, charts included.

Weeks are hypercare weeks: week 1 starts at local midnight of the window's first day, so the
trend reads "week 1, week 2, …" of the hypercare, whatever weekday go-live fell on. They are
`LocalDays` whose "days" are week starts: the KPI queries bucket by any boundaries they get.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.config import Program
from bot.domain import (
    Chart,
    Effect,
    Feedback,
    KnownIssue,
    Lesson,
    LocalDays,
    MeanTimes,
    Readiness,
    RootCauseTheme,
    SatisfactionWeek,
)
from bot.feedback.priority import ranked
from bot.oncall.rota import local_instant
from bot.ports import Clock, ExitReportNotifier, ReportFile, SatisfactionSource
from bot.reports.charts import SeverityLabel
from bot.reports.exit_markdown import render
from bot.reports.program import Window
from bot.reports.readiness import assess
from bot.reports.weekly import period_charts
from storage.known import KnownIssueRepository
from storage.kpis import AlertStats, Kpis
from storage.lessons import LessonRepository
from storage.rca import RootCauseRepository
from storage.weekly import WeeklyQueries

log = logging.getLogger(__name__)

UPLOAD = "report.exit"
MARKDOWN_FILE = "exit-report.md"
WEEK = dt.timedelta(days=7)
OPEN_ITEMS_SHOWN = 500  # a hand-over lists every open item; past this, the tracker does
OPEN_ITEMS_RANKED = 5000  # the oldest this many open items are ranked (as `/hypercare top`)
KNOWN_SHOWN = 200
LESSONS_SHOWN = 500
THEMES_SHOWN = 20  # root-cause categories
THEME_ITEMS = 5  # the latest items named for each


class ExitOutcome(StrEnum):
    """What became of asking for the closing report."""

    QUEUED = "queued"
    NOT_LEAD = "not_lead"
    NO_DIGEST_CHANNEL = "no_digest_channel"
    BEFORE_GO_LIVE = "before_go_live"  # the window has not started: nothing to report
    EMPTY_WINDOW = "empty_window"  # no feedback and no alert in the window so far


@dataclass(frozen=True)
class WeekFigures:
    """One hypercare week: volume, backlog, breaches, mean times and gateway health."""

    number: int  # 1 for the week go-live starts
    start: dt.date
    complete: bool  # False for the week `as_of` falls in
    opened: Mapping[str, int]  # by severity id
    resolved: Mapping[str, int]
    open_at_end: Mapping[str, int]  # at the week's end, or at `as_of` for the last one
    breaches: Mapping[str, int]
    mean_times: Mapping[str, MeanTimes]
    error_rate: Mapping[str, float | None]  # ratio, mean of the week's samples, by source
    p95_ms: Mapping[str, float | None]


@dataclass(frozen=True)
class HandoverItem:
    """An open item handed over: the item, its priority score and how long it has been open."""

    feedback: Feedback
    priority: float
    age: dt.timedelta


@dataclass(frozen=True)
class ExitReport:
    """Everything the closing report says, as of one instant."""

    as_of: dt.datetime
    since: dt.datetime  # local midnight of the window's first day
    go_live: dt.date
    planned: Window | None
    severities: tuple[SeverityLabel, ...]  # the program's, most urgent first
    opened: Mapping[str, int]  # over the window, by severity id
    resolved: Mapping[str, int]
    open_now: Mapping[str, int]  # at `as_of`
    breaches: Mapping[str, int]
    mean_times: Mapping[str, MeanTimes]
    alerts: AlertStats
    gateway: tuple[str, ...]  # a line per metric source: mean and worst day
    sources: tuple[str, ...]  # metric sources with figures, sorted
    weeks: tuple[WeekFigures, ...]
    satisfaction: tuple[SatisfactionWeek, ...]  # empty without a user pulse or its answers
    readiness: Readiness
    open_items: tuple[HandoverItem, ...]  # highest priority first
    open_total: int
    unowned: int  # open items without an owner at `as_of`
    known: tuple[KnownIssue, ...]  # most reported first
    known_more: bool
    root_causes: tuple[RootCauseTheme, ...]  # most frequent first
    lessons: tuple[Lesson, ...]  # oldest first
    lessons_total: int
    charts: tuple[Chart, ...]

    @property
    def drawn_charts(self) -> tuple[Chart, ...]:
        """The charts with something on them: a 'no data' placeholder is not handed over."""
        return tuple(chart for chart in self.charts if not chart.no_data)


def window_start(program: Program) -> dt.datetime:
    """Local midnight of the hypercare window's first day (go-live without a planned window)."""
    start = program.window.start if program.window is not None else program.go_live
    return local_instant(start, dt.time(0), program.zone)


def hypercare_weeks(program: Program, until: dt.datetime) -> LocalDays:
    """The hypercare weeks from the window's start to `until`, the last one cut at `until`."""
    since = window_start(program)
    first = since.astimezone(program.zone).date()
    last = (until - dt.timedelta(microseconds=1)).astimezone(program.zone).date()
    weeks = tuple(first + n * WEEK for n in range((last - first).days // 7 + 1))
    starts = tuple(local_instant(week, dt.time(0), program.zone) for week in weeks[1:])
    return LocalDays(since, until, weeks, starts)


class ExitReportService:
    """Builds the closing report; `request` queues its upload to the digest channel."""

    def __init__(
        self,
        *,
        program: Program,
        kpis: Kpis,
        queries: WeeklyQueries,
        open_at: Callable[[dt.datetime, int], tuple[list[Feedback], int]],
        known: KnownIssueRepository,
        root_causes: RootCauseRepository,
        lessons: LessonRepository,
        clock: Clock,
        enqueue: Callable[[Sequence[Effect], dt.datetime], None] | None = None,
        notifier: ExitReportNotifier | None = None,
        satisfaction: SatisfactionSource | None = None,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._program = program
        self._kpis = kpis
        self._queries = queries
        self._open_at = open_at
        self._known = known
        self._root_causes = root_causes
        self._lessons = lessons
        self._clock = clock
        self._enqueue = enqueue
        self._notifier = notifier
        self._satisfaction = satisfaction
        self._on_enqueued = on_enqueued

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {UPLOAD: self._upload}

    def refusal(self, as_of: dt.datetime) -> ExitOutcome | None:
        """Why there is no report as of this instant (None when there is one)."""
        since = window_start(self._program)
        if as_of <= since:
            return ExitOutcome.BEFORE_GO_LIVE
        opened = sum(self._kpis.opened(since, as_of).values())
        if not opened and not self._kpis.alert_stats(since, as_of).fired:
            return ExitOutcome.EMPTY_WINDOW
        return None

    def request(self, actor: str) -> ExitOutcome:
        """`/hypercare exit-report`: queue the report's upload to the digest channel, as of now.

        One report per minute whoever asks: a command sent twice (or by two leads at once)
        is uploaded once. The upload is one outbox row and one share of every file, so a
        retried row never posts a second copy.
        """
        if not self._program.is_lead(actor):
            return ExitOutcome.NOT_LEAD
        if self._program.channels.digest is None or self._enqueue is None:
            return ExitOutcome.NO_DIGEST_CHANNEL
        now = self._clock()
        if (refused := self.refusal(now)) is not None:
            return refused
        key = f"{UPLOAD}:{now:%Y%m%dT%H%M}"
        self._enqueue([Effect(UPLOAD, {"at": now.isoformat(), "by": actor}, key)], now)
        self._on_enqueued()
        log.info("closing report requested")
        return ExitOutcome.QUEUED

    def _upload(self, payload: dict[str, object]) -> Sequence[Effect]:
        channel = self._program.channels.digest
        if channel is None or self._notifier is None:
            return []
        as_of = dt.datetime.fromisoformat(str(payload["at"]))
        report = self.build(as_of)
        by = str(payload.get("by") or "") or None
        self._notifier.upload_exit_report(
            channel, self.files(report), as_of, report.readiness.verdict, by
        )
        return []

    def files(self, report: ExitReport) -> tuple[ReportFile, ...]:
        """The Markdown, then each chart it links, as files to hand over."""
        markdown = render(report, self._program).encode("utf-8")
        title = f"Hypercare closing report: {self._program.name}"
        charts = tuple(ReportFile(c.filename, c.title, c.png) for c in report.drawn_charts)
        return (ReportFile(MARKDOWN_FILE, title, markdown), *charts)

    def build(self, as_of: dt.datetime) -> ExitReport:
        """The report as of `as_of` (an aware instant after the window's start)."""
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        program, kpis = self._program, self._kpis
        since = window_start(program)
        severities = [s.id for s in program.severities]
        times = kpis.mean_times(since, as_of)
        drawn = period_charts(program, kpis, self._queries, since, as_of, times)
        weeks = self._weeks(as_of, severities)
        sources = tuple(sorted({s for w in weeks for s in (*w.error_rate, *w.p95_ms)}))
        items, open_total = self._open_at(as_of, OPEN_ITEMS_RANKED)
        handed = tuple(
            HandoverItem(feedback, score, as_of - feedback.created_at)
            for feedback, score in ranked(items, program, as_of)[:OPEN_ITEMS_SHOWN]
        )
        known = self._known.live(KNOWN_SHOWN + 1)
        lessons, lessons_total = self._lessons.between(since, as_of, LESSONS_SHOWN)
        return ExitReport(
            as_of=as_of,
            since=since,
            go_live=program.go_live,
            planned=program.window,
            severities=tuple(SeverityLabel(s.id, s.label) for s in program.severities),
            opened=_total(w.opened for w in weeks),
            resolved=_total(w.resolved for w in weeks),
            open_now=kpis.open_counts(as_of),
            breaches=kpis.breaches_by_severity(since, as_of),
            mean_times=times,
            alerts=kpis.alert_stats(since, as_of),
            gateway=tuple(drawn.gateway_lines()),
            sources=sources,
            weeks=weeks,
            satisfaction=self._pulse(since, as_of),
            readiness=assess(program, kpis, as_of, self._queries, self._satisfaction),
            open_items=handed,
            open_total=open_total,
            unowned=kpis.unowned_open(as_of),
            known=tuple(known[:KNOWN_SHOWN]),
            known_more=len(known) > KNOWN_SHOWN,
            root_causes=tuple(self._root_causes.themes(since, as_of, THEMES_SHOWN, THEME_ITEMS)),
            lessons=tuple(sorted(lessons, key=lambda lesson: lesson.id)),
            lessons_total=lessons_total,
            charts=drawn.charts,
        )

    def _weeks(self, as_of: dt.datetime, severities: list[str]) -> tuple[WeekFigures, ...]:
        """Each hypercare week's figures: a handful of grouped queries for the whole window."""
        kpis, weeks = self._kpis, hypercare_weeks(self._program, as_of)
        volume = kpis.volume_by_day(weeks, severities)
        backlog = kpis.open_backlog_by_day(weeks, severities)
        breaches = kpis.breaches_by_day(weeks)
        times = kpis.mean_times_by_day(weeks)
        _, rates = self._queries.metric_days(weeks, "ratio")
        _, latencies = self._queries.metric_days(weeks, "ms")
        return tuple(
            WeekFigures(
                number=index + 1,
                start=start,
                complete=index < len(weeks.starts),  # the last week runs to `as_of`
                opened=dict(volume[index].opened_by_severity),
                resolved=dict(volume[index].resolved_by_severity),
                open_at_end=dict(backlog[index].open_by_severity),
                breaches=breaches[index],
                mean_times=times[index],
                error_rate={source: values[index] for source, values in rates.items()},
                p95_ms={source: values[index] for source, values in latencies.items()},
            )
            for index, start in enumerate(weeks.days)
        )

    def _pulse(self, since: dt.datetime, as_of: dt.datetime) -> tuple[SatisfactionWeek, ...]:
        """The user pulse's weeks with answers, oldest first (none without a pulse)."""
        if self._satisfaction is None:
            return ()
        # Local instants: the pulse's weeks start at local midnights of the program's zone.
        zone = self._program.zone
        weeks = self._satisfaction.weekly_satisfaction(
            since.astimezone(zone), as_of.astimezone(zone)
        )
        return tuple(sorted((w for w in weeks if w.responses), key=lambda w: w.week_start))


def _total(per_week: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counts by severity summed over the weeks, in the weeks' key order."""
    total: dict[str, int] = {}
    for counts in per_week:
        for key, n in counts.items():
            total[key] = total.get(key, 0) + n
    return total


def write_files(files: Sequence[ReportFile], folder: Path) -> Path:
    """Write the report's files into `folder` (made if missing); return the Markdown's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in files:
        (folder / file.filename).write_bytes(file.content)
    return folder / files[0].filename
