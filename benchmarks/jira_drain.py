"""Jira drain: how fast the outbox worker empties a ticket backlog, and what it adds per ticket.

Each cell stores N sev1/sev2 feedback rows (the example program opens their tickets on submit)
with their receipts already posted, then lets the real outbox worker, ticket service and
JiraTracker drain the backlog against the Jira emulator, Slack effects included. A last cell
turns pacing off and compares the worker with the same bare `jira` library calls made directly,
against the same emulator. Everything runs in one process on 127.0.0.1. Run it with:

    .venv/bin/python benchmarks/jira_drain.py [--tickets 1000] [--rate 50] [--fast-rate 200]
        [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from jira import JIRA
from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.config import Program, load_program
from bot.domain import FeedbackDraft, UsersAffected
from bot.integrations.jira import PAGE, TICKET_FIELDS, create_fields, label_query
from bot.ports import utc_now
from bot.tickets.subjects import idempotency_label, ticket_draft
from sandbox.jira.api import JiraEmulator, RecordedCall
from sandbox.slack.api import SlackEmulator
from sandbox.slack.workspace import WORKSPACE_URL
from storage import db
from storage.repositories import FeedbackRepository, OutboxRepository

from _harness import (
    EXAMPLE_PROGRAM,
    FEEDBACK,
    RECEIPT_TS_BASE,
    REPORTER,
    add_output_options,
    bot_settings,
    database_kind,
    databases,
    machine,
    machine_line,
    parser,
    positive_int,
    quiet_logging,
    slack_emulator,
    write_json,
)

JIRA_EMAIL, JIRA_TOKEN = "bot@example.com", "jira-bench-token"  # the emulator's
CALLS_PER_TICKET = 2  # one search for the idempotency label, one create
UNPACED = 10_000.0  # requests per second: pacing effectively off
CONFIG_MAX_RATE = 100.0  # what the program file accepts (JiraProgram.max_requests_per_second)

TEXT: dict[str, Any] = {
    "summary": "Checkout returns 504 for card payments",
    "trying": "Pay for an order with a Visa card",
    "expected": "Order confirmed",
    "actual": "Spinner for 30 s, then 'Gateway timeout' {noformat} [~admin] *bold*",
    "api_endpoint": "POST /v1/payments",
    "correlation_id": "abc-123-def",
}


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    tickets: int
    rate: float
    fast_rate: float
    database_url: str | None
    json_path: Path | None


@dataclass
class Drain:
    """One drained backlog: its timings, the calls it made and what the checks found."""

    name: str
    rate: float
    tickets: int
    database_url: str
    elapsed_s: float = 0.0
    jira_phase_s: float = 0.0  # drain start to the last issue created
    first_slack_s: float = 0.0  # drain start to the first Slack call (a ticket announced)
    jira_calls: Counter[str] = field(default_factory=Counter)
    slack_calls: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def floor_s(self) -> float:
        """The least time the paced Jira calls can take: 2N / rate."""
        return CALLS_PER_TICKET * self.tickets / self.rate

    def per_ticket_ms(self, seconds: float) -> float:
        """A duration spread over the tickets, in ms."""
        return 1000 * seconds / self.tickets

    def summary(self) -> dict[str, Any]:
        """The figures of this cell, for --json."""
        return {
            "cell": self.name,
            "rate_per_s": self.rate,
            "tickets": self.tickets,
            "floor_s": round(self.floor_s, 3),
            "jira_phase_s": round(self.jira_phase_s, 3),
            "first_slack_call_s": round(self.first_slack_s, 3),
            "drain_s": round(self.elapsed_s, 3),
            "jira_calls": dict(self.jira_calls),
            "slack_calls": dict(self.slack_calls),
            "problems": self.problems,
        }


@dataclass(frozen=True)
class Bare:
    """The baseline: one search and one create per ticket with the `jira` client, no database."""

    tickets: int
    elapsed_s: float

    @property
    def per_ticket_ms(self) -> float:
        """Time per ticket, in ms."""
        return 1000 * self.elapsed_s / self.tickets


# -- the pieces --------------------------------------------------------------------------------


def example_program(rate: float, project: str) -> Program:
    """The example program with its Jira calls paced at `rate` (may exceed the file's cap)."""
    program = load_program(EXAMPLE_PROGRAM)
    assert program.jira is not None, "the example program maps Jira tickets"
    jira = program.jira.model_copy(update={"max_requests_per_second": rate, "project": project})
    return program.model_copy(update={"jira": jira})


@contextlib.contextmanager
def bot(
    slack: SlackEmulator, jira: JiraEmulator, database_url: str, rate: float
) -> Iterator[Runtime]:
    """The bot as build_runtime wires it, migrated but not started: the benchmark drives it."""
    settings = bot_settings(
        slack.base_url,
        database_url,
        jira_url=jira.url,
        jira_email=JIRA_EMAIL,
        jira_api_token=SecretStr(JIRA_TOKEN),
    )
    runtime = build_runtime(settings, example_program(rate, jira.project_key))
    try:
        db.migrate(runtime.engine)
        yield runtime
    finally:
        runtime.stop()


def draft(program: Program, batch: str, number: int) -> FeedbackDraft:
    """A valid modal submission, cycling through severities that open tickets and the lists."""
    severities = [s.id for s in program.severities if s.auto_ticket]

    def pick(options: Sequence[Any]) -> str:
        return str(options[number % len(options)].id)

    return FeedbackDraft(
        **{**TEXT, "summary": f"{TEXT['summary']} #{number}"},
        category=pick(program.categories),
        severity=severities[number % len(severities)],
        component=pick(program.components),
        environment=pick(program.environments),
        users_affected=UsersAffected.MANY,
        channel_id=FEEDBACK,
        reporter_id=REPORTER,
        submission_key=f"bench-{batch}-{number}",
    )


def seed(runtime: Runtime, slack: SlackEmulator, tickets: int) -> list[int]:
    """Store the backlog through the repositories: feedback + ticket.create, receipt posted."""
    repo = FeedbackRepository(db.make_sessions(runtime.engine), runtime.program.id_prefix)
    service = runtime.services.tickets
    batch = uuid.uuid4().hex[:8]
    ids = []
    for number in range(tickets):
        one = draft(runtime.program, batch, number)
        stored = repo.add(one, utc_now(), service.on_submit(one.severity)).feedback
        # The receipt as FeedbackAnnouncer.post_receipt would have left it.
        ts = f"{RECEIPT_TS_BASE + stored.id}.000100"
        slack.add_message(FEEDBACK, ts, f"Feedback {stored.short_id}", slack.bot_user_id)
        link = f"{WORKSPACE_URL}archives/{FEEDBACK}/p{ts.replace('.', '')}"
        repo.record_receipt(stored.id, ts, link, utc_now())
        ids.append(stored.id)
    return ids


def outbox(runtime: Runtime) -> OutboxRepository:
    """The outbox repository over the bot's engine."""
    return OutboxRepository(db.make_sessions(runtime.engine))


def run_worker(runtime: Runtime, deadline_s: float) -> float:
    """Call run_once until no row is pending; return the wall time it took."""
    rows = outbox(runtime)
    start = time.perf_counter()
    while True:
        if runtime.worker.run_once():
            continue
        if not rows.pending_count() or time.perf_counter() - start > deadline_s:
            break
        time.sleep(0.02)  # rows deferred to later (a 429, say): wait for them to come due
    return time.perf_counter() - start


def jira_kind(call: RecordedCall) -> str:
    """Name a recorded Jira call: search, create, throttled (429) or other."""
    if call.status == 429:
        return "throttled"
    if "/search" in call.path:
        return "search"
    if call.method == "POST" and call.path.rstrip("/").endswith("/issue"):
        return "create"
    return "other"


def checks(runtime: Runtime, jira: JiraEmulator, slack: SlackEmulator, ids: list[int]) -> list[str]:
    """What went wrong: issue count, duplicates, ticket keys, failed rows or Slack calls."""
    problems = []
    issues = jira.issues()
    labels = [
        label
        for issue in issues
        for label in issue["fields"]["labels"]
        if label.startswith("hypercare-")
    ]
    by_label = {label: issue["key"] for issue in issues for label in issue["fields"]["labels"]}
    if len(issues) != len(ids):
        problems.append(f"{len(issues)} issues in Jira for {len(ids)} tickets")
    if len(set(labels)) != len(labels):
        problems.append(f"{len(labels) - len(set(labels))} duplicate idempotency labels")
    repo = FeedbackRepository(db.make_sessions(runtime.engine), runtime.program.id_prefix)
    found = [repo.get(feedback_id) for feedback_id in ids]
    wrong = sum(
        f is None or f.ticket_key is None or by_label.get(idempotency_label(f)) != f.ticket_key
        for f in found
    )
    if wrong:
        problems.append(f"{wrong} feedback rows without their issue's key")
    failed = [row for row in outbox(runtime).rows() if row[1] != "done"]
    if failed:
        problems.append(f"{len(failed)} outbox rows not done, e.g. {failed[0]}")
    refused = [c for c in slack.calls if c.response.get("ok") is not True]
    if refused:
        problems.append(f"{len(refused)} Slack calls failed, e.g. {refused[0].method}")
    return problems


def drain_cell(
    name: str, rate: float, tickets: int, urls: Iterator[str], jira: JiraEmulator, bare: bool
) -> tuple[Drain, Bare | None]:
    """Seed a backlog and drain it; with `bare`, first time the bare calls on the same Jira."""
    empty(jira)  # keys keep counting up, so they never clash with an earlier cell's
    jira.set_rate_limit(rate if rate < UNPACED else None)
    database_url = next(urls)
    with slack_emulator() as slack, bot(slack, jira, database_url, rate) as runtime:
        result = Drain(name, rate, tickets, database_url=database_url)
        if left := outbox(runtime).pending_count():
            result.problems.append(f"{left} outbox rows were pending before the cell")
        result.problems += runtime.services.tickets.check_mapping()  # also opens the client
        ids = seed(runtime, slack, tickets)
        baseline = bare_calls(runtime, jira, ids) if bare else None
        slack.reset_calls()
        jira.reset_calls()
        wall = time.time()
        result.elapsed_s = run_worker(runtime, deadline_s=10 * result.floor_s + 120)
        if left := outbox(runtime).pending_count():
            result.problems.append(f"stopped after {result.elapsed_s:.0f} s, {left} rows pending")
        calls = jira.calls
        result.jira_calls.update(jira_kind(c) for c in calls)
        result.slack_calls.update(c.method for c in slack.calls)
        result.first_slack_s = min((c.at for c in slack.calls), default=wall) - wall
        created = [c.at for c in calls if jira_kind(c) == "create"]
        result.jira_phase_s = max(created, default=wall) - wall
        result.problems += checks(runtime, jira, slack, ids)
    return result, baseline


def empty(jira: JiraEmulator) -> None:
    """Delete every issue and forget the calls: the next cell starts from an empty project."""
    for issue in jira.issues():
        jira.delete_issue(issue["key"])
    jira.reset_calls()


def issue_fields(runtime: Runtime, feedback_id: int) -> tuple[str, dict[str, Any]]:
    """The JQL and the create fields JiraTracker sends for one stored feedback."""
    repo = FeedbackRepository(db.make_sessions(runtime.engine), runtime.program.id_prefix)
    feedback = repo.get(feedback_id)
    assert feedback is not None and runtime.program.jira is not None
    one = ticket_draft(feedback, runtime.program)
    jira = runtime.program.jira
    return label_query(one.idempotency_label), create_fields(one, jira.project, jira.issue_type)


def bare_calls(runtime: Runtime, jira: JiraEmulator, ids: list[int]) -> Bare:
    """Time one search and one create per ticket with the `jira` client, then undo them."""
    work = [issue_fields(runtime, feedback_id) for feedback_id in ids]
    client = JIRA(
        server=jira.url,
        basic_auth=(JIRA_EMAIL, JIRA_TOKEN),
        timeout=(5.0, 20.0),
        max_retries=0,
        get_server_info=True,
        options={"check_update": False},
    )
    search = client.enhanced_search_issues if client._is_cloud else client.search_issues
    start = time.perf_counter()
    for jql, fields in work:
        search(jql, maxResults=PAGE, fields=TICKET_FIELDS, json_result=True)
        client.create_issue(fields=fields, prefetch=False)
    elapsed = time.perf_counter() - start
    client.close()  # type: ignore[no-untyped-call]
    empty(jira)  # the worker starts from the same empty project
    return Bare(len(work), elapsed)


# -- output ------------------------------------------------------------------------------------


def environment(options: Options, database_url: str) -> dict[str, Any]:
    """What the figures depend on."""
    return {
        **machine(),
        "database": database_kind(database_url, options.database_url),
        "jira_library": version("jira"),
        "tickets": options.tickets,
    }


def drain_table(drains: list[Drain]) -> str:
    """The paced cells: drain time against the floor 2N / rate."""
    head = (
        f"{'rate/s':>7}{'N':>6}{'floor s':>9}{'Jira s':>9}{'x floor':>9}{'drain s':>9}"
        f"{'x floor':>9}{'1st Slack s':>12}"
        f"{'search':>8}{'create':>8}{'429':>5}{'other':>6}{'Slack':>7}"
    )
    lines = [head, "-" * len(head)]
    for d in drains:
        mark = "*" if d.rate > CONFIG_MAX_RATE else " "
        lines.append(
            f"{d.rate:>6.0f}{mark}{d.tickets:>6}{d.floor_s:>9.2f}{d.jira_phase_s:>9.2f}"
            f"{d.jira_phase_s / d.floor_s:>8.2f}x"
            f"{d.elapsed_s:>9.2f}{d.elapsed_s / d.floor_s:>8.2f}x{d.first_slack_s:>12.2f}"
            f"{d.jira_calls['search']:>8}{d.jira_calls['create']:>8}{d.jira_calls['throttled']:>5}"
            f"{d.jira_calls['other']:>6}{d.slack_calls.total():>7}"
        )
    return "\n".join(lines)


def overhead_table(worker: Drain, bare: Bare) -> str:
    """The unpaced cell: worker time per ticket against the bare calls."""
    rows = [
        ("bare jira client: search + create", bare.per_ticket_ms),
        ("worker, Jira phase (claim..record)", worker.per_ticket_ms(worker.jira_phase_s)),
        ("worker, whole drain (+ Slack effects)", worker.per_ticket_ms(worker.elapsed_s)),
    ]
    head = f"{'':40}{'ms/ticket':>10}{'overhead':>10}{'ratio':>8}"
    lines = [head, "-" * len(head)]
    for label, ms in rows:
        extra = ms - bare.per_ticket_ms
        lines.append(f"{label:<40}{ms:>10.2f}{extra:>+10.2f}{ms / bare.per_ticket_ms:>7.2f}x")
    return "\n".join(lines)


def report(env: dict[str, Any], drains: list[Drain], worker: Drain, bare: Bare) -> None:
    """Print the environment, both tables and every problem found."""
    print("Hypercare Bot Jira drain: outbox worker + TicketService + JiraTracker, 127.0.0.1")
    print(
        f"{machine_line(env)} | database {env['database']} | jira {env['jira_library']} | "
        f"N = {env['tickets']}"
    )
    print(
        "\n1. Drain of N pending ticket.create rows (Jira Cloud emulator limited to the same "
        "rate)\nfloor = 2N / rate; Jira s = drain start to the last issue created; drain s = "
        "until no row is pending,\nits Slack effects included (thread note, receipt update, "
        "reporter ephemeral); 1st Slack s = drain\nstart to the first Slack call; then the "
        "calls made (other = the jira library's one-off GET /field)\n"
    )
    print(drain_table(drains))
    if any(d.rate > CONFIG_MAX_RATE for d in drains):
        print(f"* above the {CONFIG_MAX_RATE:.0f}/s the program file accepts; set for measurement")
    unpaced = f"pacing off ({UNPACED:.0f}/s, no emulator limit)"
    print(f"\n2. Overhead per ticket, {unpaced}, N = {bare.tickets}\n")
    print(overhead_table(worker, bare))
    calls = ", ".join(f"{k} {v}" for k, v in sorted(worker.slack_calls.items()))
    print(f"worker calls: Jira {dict(worker.jira_calls)}; Slack {calls}")
    for cell in [*drains, worker]:
        for problem in cell.problems:
            print(f"WARNING: {cell.name}: {problem}")


def figures(env: dict[str, Any], drains: list[Drain], worker: Drain, bare: Bare) -> dict[str, Any]:
    """The figures, for --json."""
    return {
        "environment": env,
        "drains": [d.summary() for d in drains],
        "overhead": {
            "worker": worker.summary(),
            "bare_ms_per_ticket": round(bare.per_ticket_ms, 3),
            "worker_ms_per_ticket": round(worker.per_ticket_ms(worker.elapsed_s), 3),
            "worker_jira_phase_ms_per_ticket": round(worker.per_ticket_ms(worker.jira_phase_s), 3),
        },
    }


# -- entry point -------------------------------------------------------------------------------


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value < UNPACED:
        raise argparse.ArgumentTypeError(f"give a rate from 0 to below {UNPACED:.0f}")
    return value


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    cli = parser(__doc__)
    cli.add_argument("--tickets", type=positive_int, default=1000, help="N per cell (1000)")
    cli.add_argument("--rate", type=_rate, default=50.0, help="Jira requests/s (50)")
    cli.add_argument("--fast-rate", type=_rate, default=200.0, help="second cell (200; 0: skip)")
    add_output_options(cli, "SQLAlchemy URL (default: temporary SQLite files)")
    args = cli.parse_args(argv)
    if args.rate <= 0:
        cli.error("--rate must be above 0")
    return Options(args.tickets, args.rate, args.fast_rate, args.database_url, args.json_path)


def project_key(options: Options) -> str:
    """The Jira project: HYP as in the example, or a fresh one on a given database."""
    # A kept database may hold HYP-1.. from an earlier run, and feedback.ticket_key is unique.
    return f"HYP{uuid.uuid4().hex[:6].upper()}" if options.database_url else "HYP"


def refuse_busy(url: str) -> None:
    """Stop when a given database has pending outbox rows: the worker would carry them out."""
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
        pending = OutboxRepository(db.make_sessions(engine)).pending_count()
    finally:
        engine.dispose()
    if pending:
        raise SystemExit(f"the database has {pending} pending outbox rows; give an empty one")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the cells and print the tables."""
    options = parse_options(argv)
    quiet_logging()
    rates = [r for r in (options.rate, options.fast_rate) if r > 0]
    with (
        databases(options.database_url) as urls,
        JiraEmulator(
            email=JIRA_EMAIL, api_token=JIRA_TOKEN, project_key=project_key(options)
        ) as jira,
    ):
        if options.database_url:
            refuse_busy(options.database_url)
        drains = [
            drain_cell(f"drain@{r:g}/s", r, options.tickets, urls, jira, bare=False)[0]
            for r in rates
        ]
        worker, bare = drain_cell("unpaced", UNPACED, options.tickets, urls, jira, bare=True)
    assert bare is not None
    env = environment(options, worker.database_url)
    report(env, drains, worker, bare)
    if options.json_path is not None:
        write_json(options.json_path, figures(env, drains, worker, bare))


if __name__ == "__main__":
    main()
