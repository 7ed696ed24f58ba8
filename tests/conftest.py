"""Shared fixtures: both databases, the Slack emulator, and a running bot on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from bot.app.build import Runtime, build_runtime
from bot.config import Program, Settings, load_program
from sandbox.slack import SlackEmulator, SlackUserSimulator

ROOT = Path(__file__).resolve().parent.parent
BOT_TOKEN = "xoxb-canary-token-0123456789"
SIGNING_SECRET = "canary-signing-secret-abcdef"
FEEDBACK_CHANNEL = "C0FEEDBACK"
GENERAL_CHANNEL = "C0GENERAL"
POSTGRES_URL = os.environ.get("HYPERCARE_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("HYPERCARE_REQUIRE_POSTGRES") == "1"


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
    """A fresh, empty database: an SQLite file, then the PostgreSQL server when there is one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hypercare.db'}"
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("HYPERCARE_REQUIRE_POSTGRES=1 but HYPERCARE_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL (set HYPERCARE_TEST_POSTGRES_URL; tests/run.sh starts one)")
    return _fresh_postgres(POSTGRES_URL)


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
