"""The `hypercare-bot` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.config import Program, ProgramFileError, RunMode, Settings, load_program
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.logs import setup_logging

log = logging.getLogger("bot")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "environment"
            print(f"error: {name}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def check_config(settings: Settings, *, ask_jira: bool = True) -> int:
    """Validate the program file and environment (and the Jira mapping); print every problem."""
    problems = settings.problems()
    try:
        program = load_program(settings.hypercare_config)
    except ProgramFileError as exc:
        problems += [f"{exc.path}: {p}" for p in exc.problems]
        program = None
    if program is not None and not problems and ask_jira:
        problems += _jira_problems(settings, program)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    assert program is not None
    mode = settings.mode.value
    print(f"{settings.hypercare_config}: program {program.name!r} is valid ({mode} mode).")
    return 0


def _jira_problems(settings: Settings, program: Program) -> list[str]:
    """Check the Jira mapping against Jira itself; an unreachable Jira is only a warning."""
    from bot.tickets import check_mapping
    from bot.wiring import build_tracker

    try:
        return check_mapping(build_tracker(settings, program), program)
    except DeliveryRefused as refused:
        return [refused.reason]
    except DeliveryDeferred as deferred:
        print(f"warning: Jira mapping not checked: {deferred.reason}", file=sys.stderr)
        return []


def serve(settings: Settings) -> int:
    """Run the bot until SIGTERM or Ctrl-C; with no Slack credentials, run the demo."""
    if settings.mode is RunMode.DEMO:
        log.info("no SLACK_BOT_TOKEN set: running the local demo instead (see README)")
        return demo(settings)
    if check_config(settings, ask_jira=False) != 0:  # the runtime checks Jira without blocking
        print("refusing to start: fix the problems above.", file=sys.stderr)
        return 1
    from bot.wiring import build_runtime

    try:
        runtime = build_runtime(settings, load_program(settings.hypercare_config)).start()
    except Exception as exc:  # say why in one line; the log above has the details
        log.exception("the bot could not start")
        print(f"error: the bot could not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: runtime.stop())
    try:
        runtime.wait()
    except KeyboardInterrupt:
        runtime.stop()
    return 0


def migrate(settings: Settings) -> int:
    """Upgrade the database schema."""
    from storage import db

    engine = db.make_engine(settings.database_url)
    db.migrate(engine)
    print("database schema is up to date.")
    return 0


def demo(settings: Settings) -> int:
    """Play a scripted hypercare morning against local emulators and print what users see."""
    from bot.demo import run_demo

    run_demo(log_level=settings.log_level)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run a subcommand."""
    parser = argparse.ArgumentParser(prog="hypercare-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the bot (the default)")
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    sub.add_parser("check-config", help="validate the program file and environment")
    sub.add_parser("demo", help="play a scripted hypercare morning against local emulators")
    args = parser.parse_args(argv)
    settings = _settings()
    setup_logging(settings.log_level)
    command = args.command or "serve"
    return {"serve": serve, "migrate": migrate, "check-config": check_config, "demo": demo}[
        command
    ](settings)
