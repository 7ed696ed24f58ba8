"""Shared fixtures: both databases, the Slack emulator, and a running bot on 127.0.0.1.

The PostgreSQL tests (marker `postgres`) use HYPERCARE_TEST_POSTGRES_URL when it is set, else a
throwaway server that pytest-postgresql's executor starts on 127.0.0.1 at the first of them, for the
rest of the session.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy import create_engine, text

from bot.app.build import Runtime, build_runtime
from bot.config import Program, Settings, load_program
from bot.logs import setup_logging
from sandbox.slack import SlackEmulator, SlackUserSimulator
from tests.provision import (
    POSTGRES_PACKAGES,
    SERVER_USER,
    ensure_server_user,
    find_pg_ctl,
    free_port,
    unavailable,
    write_pg_ctl_wrapper,
)

ROOT = Path(__file__).resolve().parent.parent
BOT_TOKEN = "xoxb-canary-token-0123456789"
SIGNING_SECRET = "canary-signing-secret-abcdef"
FEEDBACK_CHANNEL = "C0FEEDBACK"
GENERAL_CHANNEL = "C0GENERAL"
POSTGRES_URL = os.environ.get("HYPERCARE_TEST_POSTGRES_URL")
TEST_DATABASE = "hypercare_test"
# Durability buys nothing in a throwaway cluster and costs the suite time.
POSTGRES_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
)


@pytest.fixture(autouse=True)
def _program_logging_ends_with_the_test() -> Iterator[None]:
    """A `hypercare-bot` command run in-process sets up logging for a whole program (its
    stderr handler, the root level); take that back after the test, so the handler does not
    write the later tests' lines between pytest's captures."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in root.handlers[:]:
        if type(handler).__module__ == setup_logging.__module__:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def postgresql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQLExecutor]:
    """A throwaway PostgreSQL on 127.0.0.1 for the session (trust auth, superuser `postgres`)."""
    with throwaway_postgres(tmp_path_factory) as server:
        yield server


@contextmanager
def throwaway_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQLExecutor]:
    """Start a PostgreSQL server on 127.0.0.1 with an empty TEST_DATABASE; stop and remove it
    afterwards. The caller may stop() and start() it meanwhile (a restart keeps its data).

    As root it runs as `postgres`, through a wrapper around pg_ctl. Its directory (data, socket,
    log) is not under pytest's basetemp: pytest keeps that 0700 and any other pytest session of
    the same user takes away again the access `postgres` would need.
    """
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        unavailable(
            f"PostgreSQL server binaries (pg_ctl) not found: apt-get install {POSTGRES_PACKAGES},"
            " or set HYPERCARE_TEST_POSTGRES_URL",
            "HYPERCARE_REQUIRE_POSTGRES",
        )
    workdir = Path(tempfile.mkdtemp(prefix="hypercare-pg-"))
    try:
        if os.geteuid() == 0:
            ensure_server_user()
            shutil.chown(workdir, SERVER_USER, SERVER_USER)
            # The wrapper stays in a directory of root's: root runs it.
            wrapper = tmp_path_factory.mktemp("pg_ctl") / "pg_ctl"
            write_pg_ctl_wrapper(wrapper, pg_ctl)
            pg_ctl = str(wrapper)
        server = PostgreSQLExecutor(
            executable=pg_ctl,
            host="127.0.0.1",
            port=free_port(),
            datadir=str(workdir / "data"),
            unixsocketdir=str(workdir),
            logfile=str(workdir / "postgresql.log"),
            startparams="-w",
            dbname=TEST_DATABASE,
            postgres_options=POSTGRES_OPTIONS,
        )
        with server:  # started, and stopped at the end
            yield server
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The PostgreSQL test database's URL: HYPERCARE_TEST_POSTGRES_URL, or a throwaway server's."""
    if POSTGRES_URL:
        yield POSTGRES_URL
        return
    # Asked for here only, so that runs without PostgreSQL tests start no server.
    server: PostgreSQLExecutor = request.getfixturevalue("postgresql_server")
    with DatabaseJanitor(
        user=server.user,
        host=server.host,
        port=server.port,
        dbname=TEST_DATABASE,
        password=server.password,
    ):
        yield f"postgresql+psycopg://{server.user}@{server.host}:{server.port}/{TEST_DATABASE}"


def _fresh_postgres(url: str) -> str:
    """Empty the test database so each test starts from no schema at all."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: an SQLite file, then PostgreSQL (started only when asked for)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hypercare.db'}"
    return _fresh_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
def program() -> Program:
    """The example program without rotas, escalation or digests (they follow the wall clock)."""
    example = load_program(ROOT / "hypercare.example.yaml")
    # With a digest channel, a bot started after the daily digest's time posts it late.
    channels = example.channels.model_copy(update={"digest": None})
    return example.model_copy(update={"oncall": None, "escalation": None, "channels": channels})


@pytest.fixture
def program_with_oncall() -> Program:
    """The example program file as shipped, rotas included."""
    return load_program(ROOT / "hypercare.example.yaml")


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    """The Slack Web API emulator with the example program's channels and a few people."""
    emulator = SlackEmulator(token=BOT_TOKEN).start()
    emulator.add_channel(FEEDBACK_CHANNEL, "hypercare-feedback")
    emulator.add_channel(GENERAL_CHANNEL, "payments-general")
    emulator.add_user("U0ALICE", "alice", email="alice@example.com")
    emulator.add_user("U0BOB", "bob", email="bob@example.com")
    emulator.add_user("U0LEAD1", "lena", email="lena@example.com")
    yield emulator
    emulator.stop()


def bot_settings(slack: SlackEmulator, database_url: str) -> Settings:
    """Settings for a bot in HTTP mode against the emulator, listening on a free port."""
    return Settings(
        slack_bot_token=SecretStr(BOT_TOKEN),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        slack_api_url=slack.base_url,
        database_url=database_url,
        host="127.0.0.1",
        port=0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def bot(slack: SlackEmulator, database_url: str, program: Program) -> Iterator[Runtime]:
    """The bot, running in HTTP mode on 127.0.0.1 against the emulator."""
    runtime = build_runtime(bot_settings(slack, database_url), program).start()
    yield runtime
    runtime.stop()


@pytest.fixture
def user(bot: Runtime, slack: SlackEmulator) -> Iterator[SlackUserSimulator]:
    """A Slack user whose actions reach the bot as signed requests."""
    simulator = SlackUserSimulator(
        f"http://127.0.0.1:{bot.port}/slack/events", SIGNING_SECRET, emulator=slack
    )
    yield simulator
