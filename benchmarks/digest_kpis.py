"""Digest KPIs: what each KPI query and `assess()` costs at 10k, 100k and 1M feedback rows.

The script bulk-inserts a synthetic hypercare (feedback over 120 days, escalations for a
quarter of the sev1/sev2 items, one alert per ten feedback rows) in batches, growing the same
database from one size to the next, then times every function in `MEASURES` against a
baseline measured in the same run: `SELECT count(*) FROM feedback`. Run it with:

    .venv/bin/python benchmarks/digest_kpis.py [--sizes 10000,100000,1000000] [--repeat 5]
        [--database-url URL] [--json FILE]

To time another function, add one `@measure("name")` function taking a `Cell`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Index, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Program, load_program
from bot.oncall.rota import local_days
from bot.oncall.service import OnCallService
from bot.reports.build import build_digests, build_exit_report, build_weekly
from bot.reports.program import ReportsProgram
from bot.reports.readiness import assess
from storage import db
from storage.kpis import Kpis
from storage.models import Base, FeedbackRow

from _harness import (
    EXAMPLE_PROGRAM,
    add_output_options,
    database,
    database_kind,
    machine,
    median,
    parser,
    positive_int,
    repeat_ms,
    write_json,
)

NOW = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)
SPAN = dt.timedelta(days=120)  # the seeded timeline ends at NOW
BATCH = 10_000
SEVERITIES = {"sev1": (0.05, 4), "sev2": (0.20, 12), "sev3": (0.45, 48), "sev4": (0.30, 120)}
RULES = [f"rule-{n:02}" for n in range(20)]
TABLES = Base.metadata.tables
SEEDED = ("escalation", "alert", "feedback")  # the order they can be emptied in
KPI_INDEXES = {  # migration 0007
    "ix_feedback_resolved_at",
    "ix_feedback_created_at_severity",
    "ix_feedback_severity_resolved_at",
    "ix_escalation_acknowledged_at",
    "ix_alert_resolved_at",
}
CRITERIA: list[Any] = [
    {"no_open_severity": {"severity": "sev1", "days": 7}},
    {"no_sla_breach": {"days": 5}},
    {"mttr_below": {"severity": "sev2", "hours": 8}},
    {"open_items_below": {"count": 50}},
    "no_unowned_items",
]


@dataclass(frozen=True)
class Cell:
    """What a measured function gets: the KPIs, the program and the virtual now."""

    kpis: Kpis
    sessions: sessionmaker[Session]
    program: Program

    def days(self, n: int) -> tuple[dt.datetime, dt.datetime]:
        """The last `n` days up to NOW."""
        return NOW - dt.timedelta(days=n), NOW


MEASURES: dict[str, Callable[[Cell], object]] = {}
BASELINE = "baseline: count(*) feedback"


def measure(name: str) -> Callable[[Callable[[Cell], object]], Callable[[Cell], object]]:
    """Register a function to time, under the name the table shows."""

    def register(function: Callable[[Cell], object]) -> Callable[[Cell], object]:
        MEASURES[name] = function
        return function

    return register


@measure(BASELINE)
def _baseline(cell: Cell) -> object:
    with cell.sessions() as session:
        return session.scalar(select(func.count()).select_from(FeedbackRow))


@measure("mean_times 7d")
def _mean_times(cell: Cell) -> object:
    return cell.kpis.mean_times(*cell.days(7))


@measure("volume_by_day 7d")
def _volume_7(cell: Cell) -> object:
    return cell.kpis.volume_by_day(local_days(*cell.days(7), cell.program.zone))


@measure("volume_by_day 30d")
def _volume_30(cell: Cell) -> object:
    return cell.kpis.volume_by_day(local_days(*cell.days(30), cell.program.zone))


@measure("open_backlog_by_day 30d")
def _backlog(cell: Cell) -> object:
    return cell.kpis.open_backlog_by_day(local_days(*cell.days(30), cell.program.zone))


@measure("open_counts")
def _open_counts(cell: Cell) -> object:
    return cell.kpis.open_counts(NOW)


@measure("critical_open")
def _critical(cell: Cell) -> object:
    return cell.kpis.critical_open(NOW, ["sev1"])


@measure("breaches_by_severity 7d")
def _breaches(cell: Cell) -> object:
    return cell.kpis.breaches_by_severity(*cell.days(7))


@measure("last_breach_at")
def _last_breach(cell: Cell) -> object:
    return cell.kpis.last_breach_at()


@measure("last_open_of_severity sev1")
def _last_open(cell: Cell) -> object:
    return cell.kpis.last_open_of_severity("sev1", NOW)


@measure("alert_stats 7d")
def _alerts(cell: Cell) -> object:
    return cell.kpis.alert_stats(*cell.days(7))


@measure("unowned_open")
def _unowned(cell: Cell) -> object:
    return cell.kpis.unowned_open(NOW)


@measure("assess (5 criteria)")
def _assess(cell: Cell) -> object:
    return assess(cell.program, cell.kpis, NOW)


@measure("daily digest (built, not posted)")
def _daily_digest(cell: Cell) -> object:
    # What the scheduled job's outbox handler (`DigestService._post_daily`) builds before it
    # posts: every section and the thread's full lists of the cut ones.
    oncall = OnCallService(program=cell.program, clock=lambda: NOW)
    return build_digests(cell.program, cell.sessions, lambda: NOW, oncall).daily(until=NOW)


@measure("weekly review (with 4 charts)")
def _weekly_review(cell: Cell) -> object:
    return build_weekly(cell.program, cell.sessions, lambda: NOW).build(until=NOW)


@measure("exit report (with 4 charts)")
def _closing_report(cell: Cell) -> object:
    # What `/hypercare exit-report`'s outbox row builds before it uploads: the whole window's
    # KPIs, weekly trends, open items, registers, and the charts, rendered as files.
    service = build_exit_report(cell.program, cell.sessions, lambda: NOW)
    return service.files(service.build(NOW))


# -- seeding -----------------------------------------------------------------------------------


class Seeder:
    """Synthetic rows with explicit ids, so a larger size extends the same database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.rng = random.Random(20261025)
        self.feedback = self.alerts = 0

    def grow_to(self, size: int) -> None:
        """Insert feedback up to `size` rows, with escalations and alerts in proportion."""
        while self.feedback < size:
            count = min(BATCH, size - self.feedback)
            rows = [self._feedback(self.feedback + n + 1) for n in range(count)]
            alerts = [self._alert(self.alerts + n + 1) for n in range(count // 10)]
            escalations = [self._escalation("feedback", r) for r in rows if self._escalates(r)]
            escalations += [self._escalation("alert", a) for a in alerts if self._escalates(a)]
            # Core inserts of the tables: the ORM's bulk path costs 4x as much per row here.
            with self.sessions.begin() as session:
                connection = session.connection()
                connection.execute(insert(TABLES["feedback"]), rows)
                connection.execute(insert(TABLES["alert"]), alerts)
                connection.execute(insert(TABLES["escalation"]), escalations)
            self.feedback += count
            self.alerts += len(alerts)

    def _span(self, severity: str, mean_hours: float) -> tuple[dt.datetime, dt.datetime | None]:
        """When an item starts and ends. Every sev1 ended over a day ago (the team has them
        under control), so `last_open_of_severity` has to find the latest resolution."""
        if severity == "sev1":
            start = NOW - dt.timedelta(days=1) - (SPAN - dt.timedelta(days=1)) * self.rng.random()
            hours = min(self.rng.expovariate(1 / mean_hours), 12)
            return start, start + dt.timedelta(hours=hours)
        start = NOW - SPAN * self.rng.random()
        end = start + dt.timedelta(hours=self.rng.expovariate(1 / mean_hours))
        return start, None if end >= NOW or self.rng.random() < 0.02 else end  # 2 % are stuck

    def _escalates(self, row: dict[str, Any]) -> bool:
        return row["severity"] in ("sev1", "sev2") and self.rng.random() < 0.25

    def _feedback(self, number: int) -> dict[str, Any]:
        severity = self.rng.choices(list(SEVERITIES), [w for w, _ in SEVERITIES.values()])[0]
        created, resolved = self._span(severity, SEVERITIES[severity][1])
        return {
            "id": number,
            "submission_key": f"bench-{number}",
            "summary": f"Synthetic item {number}",
            "category": "bug",
            "severity": severity,
            "component": "api",
            "environment": "production",
            "trying": "-",
            "expected": "-",
            "actual": "-",
            "channel_id": "C0FEEDBACK",
            "reporter_id": "U0ALICE",
            "state": "resolved" if resolved else "new",
            "created_at": created,
            "updated_at": resolved or created,
            "resolved_at": resolved,
            "ticket_key": f"HYP-{number}" if self.rng.random() < 0.4 else None,
            "acknowledged_by": "U0BOB" if self.rng.random() < 0.5 else None,
        }

    def _alert(self, number: int) -> dict[str, Any]:
        severity = self.rng.choice(["sev1", "sev2", "sev3"])
        fired, resolved = self._span(severity, 0.5)
        return {
            "id": number,
            "rule_id": self.rng.choice(RULES),
            "scope": {"service": "payments"},
            "source_id": "gateway",
            "severity": severity,
            "channel_id": "C0ALERTS",
            "state": "resolved" if resolved else "firing",
            "value": 0.2,
            "threshold": 0.01,
            "unit": "ratio",
            "since": fired,
            "fired_at": fired,
            "resolved_at": resolved,
        }

    def _escalation(self, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        started = item["created_at"] if kind == "feedback" else item["fired_at"]
        acked = started + dt.timedelta(minutes=self.rng.expovariate(1 / 10))
        breached = self.rng.random() < 0.1
        return {
            "item_kind": kind,
            "item_id": item["id"],
            "generation": 1,
            "severity": item["severity"],
            "state": {},
            "started_at": started,
            "ack_due": started + dt.timedelta(minutes=15),
            "resolve_due": started + dt.timedelta(hours=4),
            "acknowledged_at": acked if acked < NOW and self.rng.random() < 0.9 else None,
            "acknowledged_by": "U0BOB",
            "resolved_at": item["resolved_at"],
            "sla_breached_at": started + dt.timedelta(hours=4) if breached else None,
            "breaches": int(breached),
            "paged": [],
            "pages": [],
        }


# -- running -----------------------------------------------------------------------------------


def timed(function: Callable[[Cell], object], cell: Cell, repeat: int) -> float:
    """The median of `repeat` runs after one warm-up, in ms."""
    return median(repeat_ms(functools.partial(function, cell), repeat, warmup=1))


def settle(engine: Engine) -> None:
    """Bring a freshly loaded PostgreSQL database to the state a running one is in.

    VACUUM ANALYZE, as autovacuum does after inserts: statistics for the planner, and the
    visibility map that lets index-only scans skip the table. SQLite is left as the bot
    leaves it: nothing runs ANALYZE there.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE feedback, escalation, alert"))


def refuse_non_empty(engine: Engine) -> None:
    """The script adds rows with fixed ids: a given database must hold no feedback or alerts."""
    with engine.connect() as conn:
        for table in SEEDED:
            if conn.execute(select(func.count()).select_from(TABLES[table])).scalar():
                raise SystemExit(f"the database already has {table} rows; give an empty one")


def kpi_indexes() -> list[Index]:
    """The indexes migration 0007 adds for the KPI queries."""
    return [
        index for table in SEEDED for index in TABLES[table].indexes if index.name in KPI_INDEXES
    ]


def run(url: str, sizes: Sequence[int], repeat: int, *, indexes: bool) -> dict[str, Any]:
    """Seed each size in turn and time every measure; returns the figures."""
    engine = db.make_engine(url)
    db.migrate(engine)
    refuse_non_empty(engine)
    if not indexes:
        for index in kpi_indexes():
            index.drop(engine)
    sessions = db.make_sessions(engine)
    example = load_program(EXAMPLE_PROGRAM)
    reports = ReportsProgram.model_validate({"exit_criteria": CRITERIA})
    cell = Cell(Kpis(sessions), sessions, example.model_copy(update={"reports": reports}))
    seeder = Seeder(sessions)
    results: dict[str, Any] = {
        "sizes": list(sizes),
        "seed_s": [],
        "ms": {name: [] for name in MEASURES},
    }
    try:
        for size in sizes:
            start = time.perf_counter()
            seeder.grow_to(size)
            settle(engine)
            results["seed_s"].append(round(time.perf_counter() - start, 1))
            print(f"  {size:>9,} rows seeded in {results['seed_s'][-1]:.1f} s", flush=True)
            for name, function in MEASURES.items():
                results["ms"][name].append(round(timed(function, cell, repeat), 3))
    finally:
        with engine.begin() as conn:  # leave a given database as empty as it was found
            for table in SEEDED:
                conn.execute(TABLES[table].delete())
        for index in kpi_indexes():  # and at its migration's schema
            index.create(engine, checkfirst=True)
        engine.dispose()
    return results


def table(results: dict[str, Any]) -> str:
    """ms per call and the ratio to the baseline, one column pair per size."""
    sizes, ms = results["sizes"], results["ms"]
    head = f"{'':30}" + "".join(f"{f'{n:,} ms':>13}{'x base':>8}" for n in sizes)
    lines = [head, "-" * len(head)]
    for name, figures in ms.items():
        cells = "".join(
            f"{value:>13.2f}{value / base:>7.1f}x"
            for value, base in zip(figures, ms[BASELINE], strict=True)
        )
        lines.append(f"{name:<30}{cells}")
    lines.append(
        f"{'seeding (s, cumulative sizes)':<30}"
        + "".join(f"{s:>13.1f}{'':8}" for s in results["seed_s"])
    )
    return "\n".join(lines)


def _sizes(value: str) -> list[int]:
    sizes = [int(part) for part in value.split(",")]
    if any(size < 10 for size in sizes) or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError("give increasing sizes of at least 10, like 10000,100000")
    return sizes


def main(argv: Sequence[str] | None = None) -> None:
    """Seed, time and print."""
    cli = parser(__doc__)
    cli.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000])
    cli.add_argument("--repeat", type=positive_int, default=5, help="timed runs per cell (5)")
    add_output_options(cli, "SQLAlchemy URL (default: a temporary SQLite file)")
    cli.add_argument(
        "--without-kpi-indexes",
        action="store_true",
        help="drop migration 0007's indexes for the run (to see what they buy); put back after",
    )
    args = cli.parse_args(argv)
    env = machine()
    with database(args.database_url, "kpis") as url:
        kind = database_kind(url, args.database_url)
        print(
            f"Hypercare Bot digest KPIs | Python {env['python']} | "
            f"{env['cpus']} CPUs | database {kind} | median of {args.repeat} runs"
            + (" | WITHOUT the KPI indexes" if args.without_kpi_indexes else "")
        )
        results = run(url, args.sizes, args.repeat, indexes=not args.without_kpi_indexes)
    print()
    print(table(results))
    if args.json_path is not None:
        results["database"] = kind
        write_json(args.json_path, results)


if __name__ == "__main__":
    main()
