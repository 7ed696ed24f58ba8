"""Memory: the bot's resident set idle, and after a burst of submissions, as its own process.

The script starts `python -m bot serve` (HTTP mode, a temporary SQLite file unless
`--database-url`) against the Slack emulator, reads its RSS from /proc once it is up and idle,
sends `--submissions` signed form submissions from `--concurrency` clients, waits until every
receipt is posted (the outbox drained), and reads the RSS again, with the peak (VmHWM). The
baseline, measured in the same run, is a bare Python process that imports the same libraries
(Bolt, slack_sdk, SQLAlchemy, APScheduler, httpx, pydantic, waitress) and does nothing. Run:

    .venv/bin/python benchmarks/memory.py [--submissions 1000] [--concurrency 20]
        [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sandbox.demo.samples import feedback_form
from sandbox.slack import SlackEmulator, SlackUserSimulator

from _harness import (
    FEEDBACK,
    HOST,
    REPORTER,
    SIGNING_SECRET,
    add_output_options,
    database,
    database_kind,
    free_port,
    machine,
    machine_line,
    parser,
    positive_int,
    serve,
    served_program,
    slack_emulator,
    wait_healthy,
    write_json,
)

LIBRARIES = "import slack_bolt, slack_sdk, sqlalchemy, apscheduler, httpx, pydantic, waitress"
SETTLE_TIMEOUT = 600.0


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MiB, from /proc."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def quiet_program(folder: Path) -> Path:
    """The example program without Jira (serve would want its credentials) or digests."""
    path = folder / "hypercare.yaml"
    path.write_text(yaml.safe_dump(served_program()), encoding="utf-8")
    return path


def burst(url: str, slack: SlackEmulator, submissions: int, concurrency: int) -> float:
    """Send the submissions from `concurrency` clients; return the seconds it took."""
    with SlackUserSimulator(url, SIGNING_SECRET, emulator=slack) as user:
        user.slash_command(user_id=REPORTER, channel_id=FEEDBACK)
    view: dict[str, Any] = slack.wait_for("views.open")[-1].response["view"]
    values = feedback_form(FEEDBACK)
    pending = list(range(submissions))
    lock = threading.Lock()

    def client() -> None:
        with SlackUserSimulator(url, SIGNING_SECRET) as user:
            while True:
                with lock:
                    if not pending:
                        return
                    number = pending.pop()
                fresh = {**view, "id": f"VMEM{number:06d}"}
                user.submit_view(fresh, values, user_id=REPORTER)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def baseline_rss() -> float:
    """RSS of a bare Python process holding the bot's libraries, in MiB."""
    with subprocess.Popen(
        [sys.executable, "-c", f"{LIBRARIES}; import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        text=True,
    ) as process:
        time.sleep(3)  # let the imports finish: the reading is of an idle process
        rss, _ = rss_mib(process.pid)
        assert process.stdin is not None
        process.stdin.close()
    return rss


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    cli = parser(__doc__)
    cli.add_argument("--submissions", type=positive_int, default=1000, help="default 1000")
    cli.add_argument("--concurrency", type=positive_int, default=20, help="default 20")
    add_output_options(cli, "SQLAlchemy URL (default: a temporary SQLite file)")
    args = cli.parse_args(argv)
    figures: dict[str, Any] = {"environment": machine()}
    with (
        database(args.database_url) as database_url,
        slack_emulator() as slack,
        tempfile.TemporaryDirectory() as folder,
    ):
        port = free_port()
        process = serve(slack, database_url, quiet_program(Path(folder)), port)
        try:
            wait_healthy(port, process)
            time.sleep(5)  # idle: the first scheduler runs are over
            idle, _ = rss_mib(process.pid)
            url = f"http://{HOST}:{port}/slack/events"
            took = burst(url, slack, args.submissions, args.concurrency)
            slack.wait_for("chat.postEphemeral", count=args.submissions, timeout=SETTLE_TIMEOUT)
            after, peak = rss_mib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
        figures["database"] = database_kind(database_url, args.database_url)
    bare = baseline_rss()
    figures.update(
        idle_rss_mib=round(idle, 1),
        after_burst_rss_mib=round(after, 1),
        peak_rss_mib=round(peak, 1),
        baseline_rss_mib=round(bare, 1),
        submissions=args.submissions,
        burst_s=round(took, 2),
    )
    print("Hypercare Bot memory: `python -m bot serve` as its own process, RSS from /proc")
    print(f"{machine_line(figures['environment'])} | database {figures['database']}")
    print(f"\n{'':44}{'MiB':>8}{'÷ bare':>9}")
    print(f"{'bare Python with the same libraries':44}{bare:8.1f}{1:8.2f}x")
    print(f"{'the bot, idle':44}{idle:8.1f}{idle / bare:8.2f}x")
    label = f"the bot after {args.submissions} submissions ({took:.1f} s)"
    print(f"{label:44}{after:8.1f}{after / bare:8.2f}x")
    print(f"{'the bot, peak (VmHWM)':44}{peak:8.1f}{peak / bare:8.2f}x")
    if args.json_path is not None:
        write_json(args.json_path, figures)


if __name__ == "__main__":
    main()
