"""Ack latency of the real bot next to a bare Bolt app that only acks, measured in one run.

The servers run in this process behind the same waitress setup on 127.0.0.1; the Slack
emulator and the load generator run in processes of their own, as Slack is outside the bot's.
Only the bot's own work differs. Run it with:

    .venv/bin/python benchmarks/ack_latency.py [--requests 200] [--concurrency 1,10,50]
        [--warmup 20] [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, insert
from waitress.server import create_server

from bot.app.build import (
    HTTP_CONNECTION_LIMIT,
    HTTP_THREADS,
    Runtime,
    _serve_until,
    build_runtime,
)
from bot.config import Program
from sandbox.demo.samples import feedback_form
from sandbox.slack import SlackUserSimulator
from sandbox.slack.user import request_headers
from storage import db

from _harness import (
    FEEDBACK,
    REPORTER,
    SIGNING_SECRET,
    SLACK_TOKEN,
    add_output_options,
    bot_settings,
    database,
    database_kind,
    finite,
    machine,
    machine_line,
    parser,
    percentile,
    positive_int,
    quiet_logging,
    slack_process,
    time_ms,
    write_json,
)

COMMAND = "/hypercare"
MODAL = "hypercare-feedback-modal"
EVENTS_PATH = "/slack/events"
KINDS = {"command": COMMAND, "submission": "view submission"}
SINGLE_MAX = 100  # requests per cell at concurrency 1, to keep the run short
SETTLE_TIMEOUT = 120.0
SLACK_ACK_MS = 3000.0  # Slack shows the user an error when the ack takes longer
HTTP_TIMEOUT = 30.0

PROGRAM: dict[str, Any] = {
    "name": "Ack latency benchmark",
    "go_live": "2026-11-16",
    "channels": {"feedback": FEEDBACK},
    "severities": [{"id": "sev1", "label": "Critical", "emoji": ":red_circle:"}],
    "categories": [{"id": "bug", "label": "Bug / defect"}],
    "components": [{"id": "payments-api", "label": "Payments API"}],
    "environments": [{"id": "production", "label": "Production"}],
}

# A complete, valid form: every submission is stored.
VALUES: dict[str, Any] = feedback_form(FEEDBACK)


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    requests: int
    concurrency: list[int]
    warmup: int
    database_url: str | None
    json_path: Path | None


@dataclass(frozen=True)
class Cell:
    """The timed requests of one (target, kind, concurrency) cell."""

    target: str
    kind: str
    concurrency: int
    latencies_ms: list[float]
    errors: int
    elapsed_s: float
    cpu: CpuPerRequest

    @property
    def sent(self) -> int:
        """Timed requests sent, answered or not."""
        return len(self.latencies_ms) + self.errors

    @property
    def p50(self) -> float:
        """Median latency of the good answers, in ms."""
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        """99th percentile latency of the good answers, in ms."""
        return percentile(self.latencies_ms, 99)

    @property
    def late(self) -> int:
        """Requests Slack would have given up on: answered after 3 s, or not at all."""
        return sum(ms > SLACK_ACK_MS for ms in self.latencies_ms) + self.errors

    @property
    def throughput(self) -> float:
        """Timed requests per second of wall time."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        """The figures of this cell, for --json."""
        return {
            "target": self.target,
            "kind": self.kind,
            "concurrency": self.concurrency,
            "n": self.sent,
            "errors": self.errors,
            "p50_ms": finite(self.p50),
            "p99_ms": finite(self.p99),
            "requests_per_s": finite(self.throughput),
            "over_3s_or_failed": self.late,
            "cpu_ms_per_request": {
                "server_process": finite(self.cpu.server_ms),
                "slack_emulator": finite(self.cpu.slack_ms),
                "load_generator": finite(self.cpu.load_ms),
            },
        }


@dataclass(frozen=True)
class CpuPerRequest:
    """CPU time a cell's requests cost, per request (warmups included), in each process.

    The server process is the one the apps run in (the bot's after-ack work counted until it
    is done); the Slack emulator is Slack's side of their calls; the load generator signs and
    sends. They share the machine's CPUs, so once those are busy, latency follows the sum.
    """

    server_ms: float
    slack_ms: float
    load_ms: float

    @property
    def total_ms(self) -> float:
        """All three."""
        return self.server_ms + self.slack_ms + self.load_ms


@dataclass
class Sent:
    """A count of requests to the bot by kind (warmups included)."""

    command: int = 1  # the modal opened by open_modal()
    submission: int = 0

    def add(self, kind: str, requests: int) -> None:
        """Count `requests` more of `kind`."""
        if kind == "command":
            self.command += requests
        else:
            self.submission += requests


@dataclass
class Run:
    """Every cell, what the bot was sent and accepted, and its after-ack backlog per cell."""

    cells: list[Cell] = field(default_factory=list)
    sent: Sent = field(default_factory=Sent)
    accepted: Sent = field(default_factory=Sent)
    backlog: dict[str, float] = field(default_factory=dict)

    def count(self, kind: str, sent: int, accepted: int) -> None:
        """Note requests of `kind` sent to the bot, and how many it accepted."""
        self.sent.add(kind, sent)
        self.accepted.add(kind, accepted)


# -- requests ----------------------------------------------------------------------------------


class _BodyRecorder(SlackUserSimulator):
    """A simulated Slack user that keeps each request body instead of sending it."""

    def __init__(self) -> None:
        super().__init__(f"http://127.0.0.1:9{EVENTS_PATH}", SIGNING_SECRET)
        self.bodies: list[bytes] = []

    def deliver(self, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        """Keep the body (it is signed afresh when sent) and answer like an empty ack."""
        self.bodies.append(raw)
        return httpx.Response(200)


def build_bodies(kind: str, count: int, view: dict[str, Any]) -> list[bytes]:
    """Slack-shaped bodies: commands with fresh trigger_ids, submissions with fresh view ids."""
    batch = uuid.uuid4().hex[:8].upper()
    with contextlib.closing(_BodyRecorder()) as user:
        for number in range(count):
            if kind == "command":
                user.slash_command(user_id=REPORTER, channel_id=FEEDBACK, command=COMMAND)
            else:
                fresh = {**view, "id": f"VB{batch}{number:05d}"}
                user.submit_view(fresh, VALUES, user_id=REPORTER)
        return user.bodies


def send(client: httpx.Client, url: str, body: bytes, verifier: SignatureVerifier) -> float | None:
    """Post one signed body; return its latency in ms, or None for an error answer."""
    headers = request_headers(verifier, body)
    try:
        elapsed, response = time_ms(lambda: client.post(url, content=body, headers=headers))
    except httpx.HTTPError:
        return None
    return None if response.status_code != 200 or _form_errors(response) else elapsed


def _form_errors(response: httpx.Response) -> bool:
    """Tell whether an ack kept the modal open with inline errors (the cheap, unstored path)."""
    if not response.content.strip().startswith(b"{"):
        return False
    try:
        return bool(response.json().get("response_action") == "errors")
    except ValueError:
        return False


# -- load --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What one burst of requests gave: timed latencies, errors, wall time, answers accepted."""

    latencies_ms: list[float]
    errors: int
    elapsed_s: float
    accepted: int  # warmups included
    cpu_s: float  # the load generator's own CPU time, warmups included


def run_load(url: str, warmup: list[bytes], timed: list[bytes], concurrency: int) -> Load:
    """Send warmups, then time the bodies from `concurrency` keep-alive clients at once."""
    cpu_start = time.process_time()
    verifier = SignatureVerifier(SIGNING_SECRET)
    barrier = threading.Barrier(concurrency + 1)
    lock = threading.Lock()
    pending = list(reversed(timed))
    results: list[float | None] = []
    early_results: list[float | None] = []

    def take() -> bytes | None:
        with lock:
            return pending.pop() if pending else None

    def worker(index: int) -> None:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            for early in warmup[index::concurrency]:  # opens this worker's connection
                early_results.append(send(client, url, early, verifier))
            barrier.wait(timeout=SETTLE_TIMEOUT)
            while (body := take()) is not None:
                results.append(send(client, url, body, verifier))

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"load-{i}", daemon=True)
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=SETTLE_TIMEOUT)
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    good = [r for r in results if r is not None]
    accepted = len(good) + sum(r is not None for r in early_results)
    return Load(good, len(timed) - len(good), elapsed, accepted, time.process_time() - cpu_start)


# -- servers -----------------------------------------------------------------------------------


def build_baseline_app(api_url: str) -> App:
    """A bare Bolt app that verifies signatures and only acks the same two requests."""
    app = App(
        client=WebClient(token=SLACK_TOKEN, base_url=api_url),
        signing_secret=SIGNING_SECRET,
        request_verification_enabled=True,
        token_verification_enabled=False,
    )

    @app.command(COMMAND)
    def command(ack: Ack) -> None:
        ack()

    @app.view(MODAL)
    def submission(ack: Ack) -> None:
        ack()

    return app


def build_same_work_app(api_url: str, engine: Engine, modal: dict[str, Any]) -> App:
    """A bare Bolt app doing the bot's work and no more: for `/hypercare`, ack and open a modal
    of the same size; for a submission, store one row in the same database, then ack."""
    app = App(
        client=WebClient(token=SLACK_TOKEN, base_url=api_url),
        signing_secret=SIGNING_SECRET,
        request_verification_enabled=True,
        token_verification_enabled=False,
    )
    rows = Table(
        "bench_same_work", MetaData(), Column("id", Integer, primary_key=True), Column("body", Text)
    )
    rows.create(engine, checkfirst=True)

    @app.command(COMMAND)
    def command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=command["trigger_id"], view=modal)

    @app.view(MODAL)
    def submission(ack: Ack, view: dict[str, Any]) -> None:
        with engine.begin() as conn:
            conn.execute(insert(rows).values(body=json.dumps(view["state"]["values"])))
        ack()

    return app


@contextlib.contextmanager
def serve_app(app: App, name: str) -> Iterator[str]:
    """Serve a Bolt app with waitress as the bot serves itself; yield its events URL."""
    handler = SlackRequestHandler(app)
    server = create_server(
        handler,
        host="127.0.0.1",
        port=0,
        threads=HTTP_THREADS,
        connection_limit=HTTP_CONNECTION_LIMIT,
    )
    port = int(server.effective_port)  # type: ignore[union-attr]
    stop = threading.Event()
    thread = threading.Thread(target=_serve_until, args=(server, stop), name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}{EVENTS_PATH}"
    finally:
        stop.set()
        thread.join(timeout=5)


@contextlib.contextmanager
def run_bot(slack: Any, database_url: str) -> Iterator[Runtime]:
    """Start the real bot in HTTP mode against the emulator; stop it afterwards."""
    settings = bot_settings(slack.base_url(), database_url)
    runtime = build_runtime(settings, Program.model_validate(PROGRAM)).start()
    try:
        yield runtime
    finally:
        runtime.stop()


def open_modal(bot_url: str, slack: Any) -> dict[str, Any]:
    """Run /hypercare once through the bot and return the modal it opened."""
    with SlackUserSimulator(bot_url, SIGNING_SECRET) as user:
        response = user.slash_command(user_id=REPORTER, channel_id=FEEDBACK)
        if response.status_code != 200:
            raise RuntimeError(f"/hypercare answered {response.status_code}")
    if not slack.wait_count("views.open", 1, 5.0):
        raise RuntimeError("/hypercare opened no modal")
    view: dict[str, Any] = slack.last_opened_view()
    return view


def settle(slack: Any, accepted: Sent) -> float:
    """Wait until the bot's after-ack work is done: modals opened, receipts confirmed."""
    start = time.perf_counter()
    done = slack.wait_count("views.open", accepted.command, SETTLE_TIMEOUT) and slack.wait_count(
        "chat.postEphemeral", accepted.submission, SETTLE_TIMEOUT
    )
    if not done:
        print(f"WARNING: the bot's after-ack work did not finish within {SETTLE_TIMEOUT:.0f}s")
    return time.perf_counter() - start


def _modal_json(view: dict[str, Any]) -> dict[str, Any]:
    """The modal the bot opened, as a client would send it (without Slack's own fields)."""
    keep = ("type", "callback_id", "title", "submit", "close", "private_metadata", "blocks")
    return {key: view[key] for key in keep if key in view}


# -- the run -----------------------------------------------------------------------------------


def cell_size(options: Options, concurrency: int) -> int:
    """Timed requests per cell: fewer at concurrency 1, where each one waits for the last."""
    return min(options.requests, SINGLE_MAX) if concurrency == 1 else options.requests


def measure(
    options: Options,
    targets: dict[str, tuple[str, Any]],
    view: dict[str, Any],
    loader: Executor,
) -> Run:
    """Run every cell, baseline then bot, letting the bot finish its after-ack work each time.

    `targets` names each app's URL and the Slack emulator it calls. The load comes from
    `loader`, a process of its own: in this one its clients would take the servers' CPU and
    GIL, as Slack's senders do not.
    """
    run = Run()
    for kind in KINDS:
        for concurrency in options.concurrency:
            count = cell_size(options, concurrency)
            for target, (url, slack) in targets.items():
                warmup = build_bodies(kind, max(options.warmup, concurrency), view)
                timed = build_bodies(kind, count, view)
                server_cpu, slack_cpu = time.process_time(), slack.cpu_seconds()
                load = loader.submit(run_load, url, warmup, timed, concurrency).result()
                if target == "bot":
                    run.count(kind, len(warmup) + len(timed), load.accepted)
                    run.backlog[f"{kind}@{concurrency}"] = settle(slack, run.accepted)
                requests = len(warmup) + len(timed)
                cpu = CpuPerRequest(
                    1000 * (time.process_time() - server_cpu) / requests,
                    1000 * (slack.cpu_seconds() - slack_cpu) / requests,
                    1000 * load.cpu_s / requests,
                )
                run.cells.append(
                    Cell(
                        target,
                        kind,
                        concurrency,
                        load.latencies_ms,
                        load.errors,
                        load.elapsed_s,
                        cpu,
                    )
                )
    return run


def environment(options: Options, database_url: str) -> dict[str, Any]:
    """What the figures depend on."""
    return {
        **machine(),
        "database": database_kind(database_url, options.database_url),
        "slack_bolt": version("slack-bolt"),
        "waitress": version("waitress"),
        "http_threads": HTTP_THREADS,
        "warmup_per_cell": options.warmup,
    }


# -- output ------------------------------------------------------------------------------------


def _ratio(bot: float, baseline: float) -> str:
    if math.isnan(bot) or math.isnan(baseline) or baseline <= 0:
        return "n/a"
    return f"{bot / baseline:.2f}x"


def _side(cell: Cell) -> str:
    return f"{cell.p50:8.2f}{cell.p99:8.2f}{cell.throughput:8.0f}{cell.errors:5d}"


def table(cells: list[Cell], options: Options) -> str:
    """The fixed-width table: both baselines and the bot side by side, with the bot's ratios.

    `bare` acks only; `same` is a bare Bolt app doing the bot's work and no more (ack and
    open a modal of the same size; store one row in the same database, then ack).
    """
    side = f"{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}{'err':>5}"
    lines = [
        f"{'':25}{'bare Bolt (ack only)':^29}  {'bare Bolt, same work':^29}  {'bot':^29}"
        f"{'bot/bare':>16}{'bot/same':>16}",
        f"{'request':<16}{'conc':>5}{'N':>4}{side}  {side}  {side}"
        f"{'p50':>8}{'p99':>8}{'p50':>8}{'p99':>8}",
    ]
    lines.append("-" * len(lines[1]))
    for label, concurrency, base, same, bot in _rows(cells, options):
        lines.append(
            f"{label:<16}{concurrency:>5}{bot.sent:>4}"
            f"{_side(base)}  {_side(same)}  {_side(bot)}"
            f"{_ratio(bot.p50, base.p50):>8}{_ratio(bot.p99, base.p99):>8}"
            f"{_ratio(bot.p50, same.p50):>8}{_ratio(bot.p99, same.p99):>8}"
        )
    return "\n".join(lines)


def _rows(cells: list[Cell], options: Options) -> Iterator[tuple[str, int, Cell, Cell, Cell]]:
    """Each table row's label and concurrency with its cells: bare ack-only, same work, bot."""
    by_key = {(c.target, c.kind, c.concurrency): c for c in cells}
    for kind, label in KINDS.items():
        for concurrency in options.concurrency:
            yield (
                label,
                concurrency,
                by_key[("baseline", kind, concurrency)],
                by_key[("same work", kind, concurrency)],
                by_key[("bot", kind, concurrency)],
            )


def cpu_table(cells: list[Cell], options: Options) -> str:
    """CPU ms per request in each process, per app, and the bot's total against each baseline."""
    side = f"{'app':>6}{'Slack':>6}{'load':>6}{'all':>6}"
    lines = [
        f"{'':21}{'bare Bolt (ack only)':^24}  {'bare Bolt, same work':^24}  {'bot':^24}"
        f"{'bot/bare':>10}{'bot/same':>10}",
        f"{'request':<16}{'conc':>5}{side}  {side}  {side}{'all':>10}{'all':>10}",
    ]
    lines.append("-" * len(lines[1]))

    def cpu(cell: Cell) -> str:
        c = cell.cpu
        return f"{c.server_ms:6.2f}{c.slack_ms:6.2f}{c.load_ms:6.2f}{c.total_ms:6.2f}"

    for label, concurrency, base, same, bot in _rows(cells, options):
        lines.append(
            f"{label:<16}{concurrency:>5}{cpu(base)}  {cpu(same)}  {cpu(bot)}"
            f"{_ratio(bot.cpu.total_ms, base.cpu.total_ms):>10}"
            f"{_ratio(bot.cpu.total_ms, same.cpu.total_ms):>10}"
        )
    return "\n".join(lines)


def report(env: dict[str, Any], run: Run, options: Options, stored: int) -> None:
    """Print the environment, the table, the after-ack backlog and the storage check."""
    print(
        "Hypercare Bot ack latency: the bot next to bare Bolt apps (ack only; the same work), "
        "same waitress, 127.0.0.1"
    )
    print(
        f"{machine_line(env)} | database {env['database']} | slack-bolt {env['slack_bolt']} | "
        f"waitress {env['waitress']} ({env['http_threads']} threads)"
    )
    print(
        f"N = timed requests per cell (each side), after max(warmup={options.warmup}, "
        "concurrency) untimed ones;\nlatency = request sent to full response received; "
        "err = non-200 answers or transport errors\n"
    )
    print(table(run.cells, options))
    print(
        "\nCPU ms per request (warmups included) in the app's process (the bot's counted until "
        "its after-ack\nwork is done), in the Slack emulator it calls and in the load generator; "
        "on a machine whose\nCPUs are busy, latency follows the sum (all)\n"
    )
    print(cpu_table(run.cells, options))
    late = ", ".join(f"{c.target} {c.kind}@{c.concurrency} {c.late}" for c in run.cells if c.late)
    print(f"\nrequests over 3 s or failed (Slack shows the user an error): {late or 'none'}")
    backlog = ", ".join(f"{key} {seconds:.2f}" for key, seconds in run.backlog.items())
    print()
    print(textwrap.fill(f"bot after-ack work left when a cell ended (s): {backlog}", 100))
    sent = run.sent.submission
    print(f"feedback rows stored: {stored} (view submissions sent to the bot: {sent})")
    if stored != sent:
        print(f"WARNING: {stored} feedback rows stored for {sent} view submissions")


def figures(env: dict[str, Any], run: Run, stored: int) -> dict[str, Any]:
    """The figures, for --json."""
    return {
        "environment": env,
        "cells": [c.summary() for c in run.cells],
        "after_ack_backlog_s": {k: round(v, 3) for k, v in run.backlog.items()},
        "feedback_rows_stored": stored,
        "view_submissions_sent": run.sent.submission,
    }


# -- entry point -------------------------------------------------------------------------------


def _concurrency(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("give positive integers like 1,10,50")
    return levels


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    cli = parser(__doc__)
    cli.add_argument(
        "--requests",
        type=positive_int,
        default=200,
        help=f"timed requests per cell (at concurrency 1: at most {SINGLE_MAX}; default 200)",
    )
    cli.add_argument(
        "--concurrency", type=_concurrency, default=[1, 10, 50], help="default 1,10,50"
    )
    cli.add_argument("--warmup", type=int, default=20, help="untimed requests per cell")
    add_output_options(cli, "SQLAlchemy URL (default: a temporary SQLite file)")
    args = cli.parse_args(argv)
    return Options(
        args.requests, args.concurrency, max(args.warmup, 0), args.database_url, args.json_path
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    options = parse_options(argv)
    quiet_logging(errors_only=("waitress.queue",))  # its queue-depth notes: expected above 16
    with (
        database(options.database_url) as database_url,
        slack_process() as slack,
        slack_process() as same_slack,  # its own: the bot's settle() counts its views.open
        run_bot(slack, database_url) as runtime,
        serve_app(build_baseline_app(slack.base_url()), "baseline-http") as baseline_url,
        contextlib.ExitStack() as stack,
        ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as loader,
    ):
        bot_url = f"http://127.0.0.1:{runtime.port}{EVENTS_PATH}"
        before = runtime.services.feedback.count()
        view = open_modal(bot_url, slack)
        engine = db.make_engine(database_url)  # tuned as the bot's own engine is
        same_work = build_same_work_app(same_slack.base_url(), engine, _modal_json(view))
        stack.callback(engine.dispose)
        same_work_url = stack.enter_context(serve_app(same_work, "same-work-http"))
        targets = {
            "baseline": (baseline_url, slack),
            "same work": (same_work_url, same_slack),
            "bot": (bot_url, slack),
        }
        run = measure(options, targets, view, loader)
        stored = runtime.services.feedback.count() - before
        env = environment(options, database_url)
    report(env, run, options, stored)
    if options.json_path is not None:
        write_json(options.json_path, figures(env, run, stored))


if __name__ == "__main__":
    main()
