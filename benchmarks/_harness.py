"""What the benchmark scripts share: statistics, timing, databases, the bot's settings, output.

The scripts run as `python benchmarks/<name>.py`, so this directory is on `sys.path` and they
import it as `from _harness import ...`. Everything here is one definition for all of them:
one percentile (linear interpolation between closest ranks, numpy's default), one way to
describe the machine, to write figures as JSON, to quiet logging, to pick a database (the
given `--database-url`, or temporary SQLite files removed at the end), to read positive
numbers from the command line, and to time a call.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bot.config import Settings
from sandbox.slack import RecordedCall, SlackEmulator
from storage import db

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROGRAM = ROOT / "hypercare.example.yaml"
SLACK_TOKEN = "xoxb-bench-token"  # the emulator's, not a real secret
SIGNING_SECRET = "bench-signing-secret"  # signs loopback requests only, if any
FEEDBACK = "C0FEEDBACK"  # the example program's feedback channel
REPORTER = "U0ALICE"
HOST = "127.0.0.1"
RECEIPT_TS_BASE = 1_800_000_000  # a seeded receipt's ts = base + feedback id, past the emulator's
TEMPORARY = " (temporary file)"  # after the driver name, when no --database-url was given

# Loggers set to WARNING by quiet_logging(): the bot's own and its libraries'.
LOGGERS = (
    "bot",
    "handlers",
    "storage",
    "slack_bolt",
    "slack_sdk",
    "alembic",
    "httpx",
    "apscheduler",
    "waitress",
    "jira",
    "urllib3",
)


# -- statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating linearly between closest ranks; NaN for none.

    The same as numpy's default (`method="linear"`); q=50 is the median.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median (`percentile(values, 50)`), or NaN for no values."""
    return percentile(values, 50)


def finite(value: float, digits: int = 3) -> float | None:
    """The value rounded for JSON, or None when it is not a number (JSON has no NaN)."""
    return None if math.isnan(value) else round(value, digits)


# -- timing ------------------------------------------------------------------------------------


def time_ms(work: Callable[[], T]) -> tuple[float, T]:
    """Run `work` once; return its wall time in ms and its result."""
    start = time.perf_counter()
    result = work()
    return (time.perf_counter() - start) * 1000, result


def repeat_ms(work: Callable[[], object], repeat: int, *, warmup: int = 0) -> list[float]:
    """Run `work` `warmup` times untimed, then `repeat` times timed; the timings in ms."""
    for _ in range(warmup):
        work()
    return [time_ms(work)[0] for _ in range(repeat)]


# -- the machine and the output ----------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What every figure depends on: the Python, the platform and the CPUs."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def machine_line(env: dict[str, Any]) -> str:
    """The start of a report's second line: `Python 3.11.7 (CPython) | 2 CPUs`."""
    return f"Python {env['python']} ({env['implementation']}) | {env['cpus']} CPUs"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write the figures as indented JSON and say where."""
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {path}")


def quiet_logging(*, errors_only: Sequence[str] = ()) -> None:
    """Warnings only (errors only for the loggers in `errors_only`)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in errors_only:
        logging.getLogger(name).setLevel(logging.ERROR)


# -- the command line --------------------------------------------------------------------------


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of the script's docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_output_options(parser: argparse.ArgumentParser, database: str | None = None) -> None:
    """`--database-url` with the help `database` (none when it is None), and `--json`."""
    if database is not None:
        parser.add_argument("--database-url", help=database)
    parser.add_argument("--json", type=Path, dest="json_path", help="also write figures here")


# -- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_files(prefix: str = "hc-bench-") -> Iterator[Callable[[str], str]]:
    """A temporary directory, removed afterwards; yields `name -> sqlite URL` of a file in it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield lambda name: f"sqlite:///{Path(tmp) / f'{name}.db'}"


@contextlib.contextmanager
def database(given: str | None, name: str = "bench") -> Iterator[str]:
    """The given database URL, or a temporary SQLite file removed afterwards."""
    if given:
        yield given
        return
    with sqlite_files() as url:
        yield url(name)


@contextlib.contextmanager
def databases(given: str | None) -> Iterator[Iterator[str]]:
    """A URL per cell: the given one each time, or a fresh temporary SQLite file each time."""
    if given:
        yield itertools.repeat(given)
        return
    with sqlite_files() as url:
        yield (url(f"cell{n}") for n in itertools.count())


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 for the run, removed afterwards; its URL.

    The same server the tests start (tests/provision.py): pg_ctl from the Debian package, run
    as `postgres` when we are root, trust authentication, no durability (a throwaway cluster).
    """
    from pytest_postgresql.executors import PostgreSQLExecutor
    from pytest_postgresql.janitor import DatabaseJanitor

    from tests.provision import (
        SERVER_USER,
        ensure_server_user,
        find_pg_ctl,
        free_port,
        write_pg_ctl_wrapper,
    )

    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        raise SystemExit("PostgreSQL's pg_ctl not found: apt-get install postgresql")
    with tempfile.TemporaryDirectory(prefix="hc-bench-pg-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        if os.geteuid() == 0:
            ensure_server_user()
            os.chown(workdir, *_ids(SERVER_USER))
            write_pg_ctl_wrapper(workdir / "pg_ctl", pg_ctl)
            os.chown(workdir / "pg_ctl", 0, 0)
            pg_ctl = str(workdir / "pg_ctl")
        server = PostgreSQLExecutor(
            executable=pg_ctl,
            host=HOST,
            port=free_port(),
            datadir=str(workdir / "data"),
            unixsocketdir=str(workdir),
            logfile=str(workdir / "postgresql.log"),
            startparams="-w",
            dbname="bench",
            postgres_options=(
                f"-c listen_addresses={HOST} -c fsync=off -c synchronous_commit=off"
                " -c full_page_writes=off"
            ),
        )
        with (
            server,
            DatabaseJanitor(
                user=server.user, host=server.host, port=server.port, dbname="bench", password=None
            ),
        ):
            yield f"postgresql+psycopg://{server.user}@{server.host}:{server.port}/bench"


class CellDatabases:
    """A fresh database per cell: a temporary SQLite file, or a PostgreSQL schema.

    On a given PostgreSQL database every cell gets its own schema (through `search_path`),
    dropped at the end, so runs never see each other's escalations or outbox rows and the
    database is left as it was found.
    """

    def __init__(self, url: str | None, stack: contextlib.ExitStack) -> None:
        self._url = url
        self._stack = stack
        self._count = 0
        self._sqlite: Callable[[str], str] | None = None
        self._admin: Engine | None = None
        if url is None:
            self._sqlite = stack.enter_context(sqlite_files())
        else:
            self._admin = db.make_engine(url)
            stack.callback(self._admin.dispose)  # after the schemas are dropped (LIFO)

    @property
    def kind(self) -> str:
        """The backend, for the report."""
        if self._url is None:
            return f"sqlite{TEMPORARY}"
        return make_url(self._url).drivername

    def fresh(self) -> str:
        """A URL to an empty database, removed when the run ends."""
        self._count += 1
        if self._sqlite is not None:
            return self._sqlite(f"cell{self._count}")
        assert self._url is not None and self._admin is not None
        schema = f"hcbench_{uuid.uuid4().hex[:10]}"
        with self._admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        self._stack.callback(_drop_schema, self._admin, schema)
        url = make_url(self._url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)


def _drop_schema(admin: Engine, schema: str) -> None:
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def database_kind(url: str, given: str | None) -> str:
    """The backend for the report: the driver name, marked when it is a temporary file."""
    return make_url(url).drivername + ("" if given else TEMPORARY)


# -- the bot and the Slack emulator ------------------------------------------------------------


def bot_settings(slack_api_url: str, database_url: str, **extra: Any) -> Settings:
    """The bot's settings against the emulator at `slack_api_url`: HTTP on 127.0.0.1, any free
    port, no .env."""
    values: dict[str, Any] = {
        "slack_bot_token": SecretStr(SLACK_TOKEN),
        "slack_signing_secret": SecretStr(SIGNING_SECRET),
        "slack_api_url": slack_api_url,
        "database_url": database_url,
        "host": HOST,
        "port": 0,
        **extra,
    }
    return Settings(**values, _env_file=None)


@contextlib.contextmanager
def slack_emulator(
    channels: dict[str, str] | None = None, users: dict[str, str] | None = None
) -> Iterator[SlackEmulator]:
    """The Slack Web API emulator with these channels and users (id -> name).

    By default the feedback channel and its reporter, alice.
    """
    with SlackEmulator(token=SLACK_TOKEN) as slack:
        for channel, name in (
            {FEEDBACK: "hypercare-feedback"} if channels is None else channels
        ).items():
            slack.add_channel(channel, name)
        for user, name in ({REPORTER: "alice"} if users is None else users).items():
            slack.add_user(user, name)
        yield slack


class HostedSlack:
    """A Slack emulator living in the process of a `SlackHost`: the benchmark asks it over the
    manager's connection for what it needs while the bot runs (a URL, counts, one view), and
    for the calls themselves, which are many and large, only once the measured part is over."""

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self._stack = contextlib.ExitStack()
        self._slack = self._stack.enter_context(slack_emulator(users=users))

    def base_url(self) -> str:
        """Where the Web API answers."""
        return self._slack.base_url

    def wait_count(self, method: str, count: int, timeout: float) -> bool:
        """Whether `count` successful calls of `method` arrived within `timeout` seconds."""
        try:
            self._slack.wait_for(method, count=count, timeout=timeout)
        except AssertionError:
            return False
        return True

    def count_to(self, method: str, channel: str) -> int:
        """How many calls of `method` named `channel`, failed ones included."""
        return sum(call.args.get("channel") == channel for call in self._slack.calls_to(method))

    def calls_to(self, *methods: str) -> list[RecordedCall]:
        """The calls received for these methods, in the order they arrived."""
        return [call for call in self._slack.calls if call.method in methods]

    def reset_calls(self) -> None:
        """Forget the recorded calls."""
        self._slack.reset_calls()

    def last_opened_view(self) -> dict[str, Any]:
        """The view of the newest successful views.open."""
        view: dict[str, Any] = self._slack.wait_for("views.open")[-1].response["view"]
        return view

    def cpu_seconds(self) -> float:
        """CPU time the emulator's process has used so far (Slack's side of the work)."""
        return time.process_time()

    def close(self) -> None:
        """Stop the emulator."""
        self._stack.close()


class SlackHost(BaseManager):
    """A process of its own for Slack emulators (`HostedSlack`): in the bot's process their
    work (parsing, checking and copying each call under one lock) would take the bot's CPU and
    GIL, as Slack's does not."""


SlackHost.register("HostedSlack", HostedSlack)


@contextlib.contextmanager
def slack_process(users: dict[str, str] | None = None) -> Iterator[Any]:
    """A `HostedSlack` proxy (with these users, id -> name), in a process started for it and
    stopped afterwards."""
    host = SlackHost(ctx=multiprocessing.get_context("spawn"))
    host.start()
    try:
        slack = host.HostedSlack(users)  # type: ignore[attr-defined]
        try:
            yield slack
        finally:
            slack.close()
    finally:
        host.shutdown()


# -- the bot as its own process ----------------------------------------------------------------

SERVE_START_TIMEOUT = 60.0


def served_program() -> dict[str, Any]:
    """The example program as YAML loads it, without Jira (serve would want its credentials),
    automatic tickets or digests; a script changes it further and writes it with yaml."""
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE_PROGRAM.read_text(encoding="utf-8"))
    raw.pop("jira", None)
    raw["channels"].pop("digest", None)
    for severity in raw["severities"]:
        severity.pop("auto_ticket", None)
    return raw


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve(
    slack: SlackEmulator,
    database_url: str,
    program: Path,
    port: int,
    *,
    log: Path | None = None,
    **extra: str,
) -> subprocess.Popen[str]:
    """`python -m bot serve` (HTTP mode) against the emulator, on 127.0.0.1:`port`.

    Its output goes to `log` when given (else nowhere); `extra` adds environment variables.
    """
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "DATABASE_URL": database_url,
        "HYPERCARE_CONFIG": str(program),
        "HOST": HOST,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    env.pop("SLACK_APP_TOKEN", None)
    output = subprocess.DEVNULL if log is None else log.open("w", encoding="utf-8")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:
        if log is not None:
            output.close()  # type: ignore[union-attr]  # the child holds its own copy


def wait_healthy(port: int, process: subprocess.Popen[str]) -> None:
    """Wait for /healthz, failing if the process exits first."""
    deadline = time.monotonic() + SERVE_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bot exited with {process.returncode}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the bot did not become healthy")
