"""The `hypercare-bot` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.config import Program, ProgramFileError, Settings, load_program
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.logs import setup_logging

if TYPE_CHECKING:  # the database layer is imported only by the commands that use it
    from sqlalchemy.orm import Session, sessionmaker

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
    program, problems = _load(settings)
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
    from bot.app.build import build_tracker
    from bot.tickets.service import check_mapping

    try:
        return check_mapping(build_tracker(settings, program), program)
    except DeliveryRefused as refused:
        return [refused.reason]
    except DeliveryDeferred as deferred:
        print(f"warning: Jira mapping not checked: {deferred.reason}", file=sys.stderr)
        return []


def _load(settings: Settings) -> tuple[Program | None, list[str]]:
    """The program, and every problem of the program file and the environment it needs."""
    try:
        program = load_program(settings.hypercare_config)
    except ProgramFileError as exc:
        return None, settings.problems() + [f"{exc.path}: {p}" for p in exc.problems]
    return program, settings.problems(program)


def serve(settings: Settings) -> int:
    """Run the bot until SIGTERM or Ctrl-C; refuse to start, one line per problem, when a
    secret or the program file is missing or wrong (a deploy must not look healthy)."""
    program, problems = _load(settings)  # the runtime checks the Jira mapping without blocking
    for problem in problems:
        print(f"error: cannot start: {problem}", file=sys.stderr)
    if problems or program is None:
        return 1
    from bot.app.build import build_runtime

    try:
        runtime = build_runtime(settings, program).start()
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
    try:
        from sandbox.demo.play import run_demo
    except ModuleNotFoundError as missing:  # an installed wheel holds the product only
        print(
            f"error: the demo needs the source checkout ({missing.name} is not installed): "
            "in a clone of the repository run `pip install -e '.[demo]' && hypercare-bot demo`",
            file=sys.stderr,
        )
        return 1

    run_demo(log_level=settings.log_level)
    return 0


def _moment(text: str | None, program: Program) -> dt.datetime:
    """Read `--at`: an ISO date-time (local to the program unless it has an offset), or now."""
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(
            f"error: --at {text!r}: use a date and time like 2026-11-23T09:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=program.zone)
    return moment.astimezone(dt.UTC)


def _program_or_problems(settings: Settings) -> Program | None:
    """The program file, or None after printing what is wrong with it."""
    try:
        return load_program(settings.hypercare_config)
    except ProgramFileError as exc:
        for problem in exc.problems:
            print(f"error: {exc.path}: {problem}", file=sys.stderr)
        return None


@contextmanager
def _migrated_sessions(settings: Settings) -> Iterator[sessionmaker[Session] | None]:
    """Sessions on the configured database, or None after saying it needs migrating."""
    from storage import db

    engine = db.make_engine(settings.database_url)
    try:
        if not db.is_current(engine):
            print(
                "error: the database is not migrated; run `hypercare-bot migrate`.", file=sys.stderr
            )
            yield None
        else:
            yield db.make_sessions(engine)
    finally:
        engine.dispose()


def digest(
    settings: Settings, kind: str, dry_run: bool, at: str | None, charts_dir: Path | None = None
) -> int:
    """Print the digest that would be posted (the scheduler posts the real one)."""
    if not dry_run:
        print("error: only --dry-run is supported; the running bot posts digests.", file=sys.stderr)
        return 2
    program = _program_or_problems(settings)
    if program is None:
        return 1
    from bot.oncall.service import OnCallService
    from bot.reports.build import build_digests, build_weekly
    from bot.slack.blocks.digest import digest_text
    from bot.slack.blocks.weekly import weekly_text
    from storage.oncall import OverrideRepository

    moment = _moment(at, program)
    with _migrated_sessions(settings) as sessions:
        if sessions is None:
            return 1
        oncall = OnCallService(
            program=program, clock=lambda: moment, overrides=OverrideRepository(sessions)
        )
        if kind == "daily":
            service = build_digests(program, sessions, lambda: moment, oncall)
            print(digest_text(program, service.daily(until=moment)))
        else:
            review = build_weekly(program, sessions, lambda: moment).build(until=moment)
            print(weekly_text(program, review))
            if charts_dir is not None:
                charts_dir.mkdir(parents=True, exist_ok=True)
                for chart in review.charts:
                    (charts_dir / chart.filename).write_bytes(chart.png)
                print(f"(charts written to {charts_dir})")
    return 0


def postmortem(settings: Settings, reference: str, out: Path | None) -> int:
    """Write an item's post-mortem draft (Markdown) to a file, or print it."""
    program = _program_or_problems(settings)
    if program is None:
        return 1
    from bot.rca.service import RcaService
    from storage.rca import RootCauseRepository
    from storage.repositories import FeedbackRepository, OutboxRepository

    with _migrated_sessions(settings) as sessions:
        if sessions is None:
            return 1
        service = RcaService(
            repo=RootCauseRepository(sessions, program.id_prefix),
            feedback=FeedbackRepository(sessions, program.id_prefix),
            program=program,
            clock=lambda: dt.datetime.now(dt.UTC),
            enqueue=OutboxRepository(sessions).enqueue,
        )
        feedback_id = service.item_id(reference)
        markdown = service.postmortem(feedback_id) if feedback_id is not None else None
    if markdown is None:
        print(
            f"error: no item {reference!r} (use an id like {program.id_prefix}-42)", file=sys.stderr
        )
        return 1
    if out is None:
        print(markdown)
    else:
        out.write_text(markdown, encoding="utf-8")
        print(f"post-mortem draft of {reference.upper()} written to {out}")
    return 0


def exit_report(settings: Settings, out: Path | None, at: str | None) -> int:
    """Write the closing report: Markdown and charts into `out`, or the Markdown to stdout."""
    program = _program_or_problems(settings)
    if program is None:
        return 1
    from bot.reports.build import build_exit_report
    from bot.reports.exit import ExitOutcome, window_start, write_files

    moment = _moment(at, program)
    with _migrated_sessions(settings) as sessions:
        if sessions is None:
            return 1
        service = build_exit_report(program, sessions, lambda: moment)
        refusal = service.refusal(moment)
        files = service.files(service.build(moment)) if refusal is None else ()
    start = window_start(program).astimezone(program.zone).date()
    local = moment.astimezone(program.zone)
    if refusal is ExitOutcome.BEFORE_GO_LIVE:
        print(
            f"error: hypercare starts on {start}; there is no report before it "
            f"(as of {local:%Y-%m-%d %H:%M}).",
            file=sys.stderr,
        )
        return 1
    if refusal is not None:
        print(
            f"error: nothing was recorded in the hypercare window (since {start}) as of "
            f"{local:%Y-%m-%d %H:%M}: no report, no alert; there is nothing to hand over.",
            file=sys.stderr,
        )
        return 1
    if out is None:
        sys.stdout.write(files[0].content.decode("utf-8"))
        print(
            f"(the {len(files) - 1} chart(s) it links are written with --out DIR)", file=sys.stderr
        )
        return 0
    path = write_files(files, out)
    print(f"closing report written to {path} with {len(files) - 1} chart(s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run a subcommand."""
    parser = argparse.ArgumentParser(prog="hypercare-bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    program_help = "the program file (default: $HYPERCARE_CONFIG, else ./hypercare.yaml)"
    serve_parser = sub.add_parser("serve", help="run the bot (the default)")
    serve_parser.add_argument("program", nargs="?", type=Path, help=program_help)
    sub.add_parser("migrate", help="upgrade the database schema and exit")
    check_parser = sub.add_parser("check-config", help="validate the program file and environment")
    check_parser.add_argument("program", nargs="?", type=Path, help=program_help)
    sub.add_parser("demo", help="play a scripted hypercare morning against local emulators")
    digest_parser = sub.add_parser("digest", help="print the digest that would be posted")
    digest_parser.add_argument("kind", choices=["daily", "weekly"])
    digest_parser.add_argument("program", nargs="?", type=Path, help=program_help)
    digest_parser.add_argument(
        "--dry-run", action="store_true", help="print it instead of posting (required)"
    )
    digest_parser.add_argument(
        "--at", help="as if it were this time (ISO, program-local unless it has an offset)"
    )
    digest_parser.add_argument(
        "--charts", type=Path, help="weekly: also write the charts as PNG files into this folder"
    )
    postmortem_parser = sub.add_parser("postmortem", help="write an item's post-mortem draft")
    postmortem_parser.add_argument("item", help="the item, e.g. HC-42")
    postmortem_parser.add_argument("program", nargs="?", type=Path, help=program_help)
    postmortem_parser.add_argument(
        "--out", type=Path, help="write the Markdown to this file (default: print it)"
    )
    report_parser = sub.add_parser("report", help="write a report from the stored records")
    report_parser.add_argument("kind", choices=["exit"], help="exit: the hypercare closing report")
    report_parser.add_argument("program", nargs="?", type=Path, help=program_help)
    report_parser.add_argument(
        "--out",
        type=Path,
        help="write exit-report.md and its PNG charts into this folder (default: print the "
        "Markdown only)",
    )
    report_parser.add_argument(
        "--at", help="as of this time (ISO, program-local unless it has an offset; default: now)"
    )
    args = parser.parse_args(argv)
    settings = _settings()
    if getattr(args, "program", None) is not None:  # a path given beats the environment's
        settings = settings.model_copy(update={"hypercare_config": args.program})
    setup_logging(settings.log_level)
    command = args.command or "serve"
    if command == "digest":
        return digest(settings, args.kind, args.dry_run, args.at, args.charts)
    if command == "postmortem":
        return postmortem(settings, args.item, args.out)
    if command == "report":
        return exit_report(settings, args.out, args.at)
    return {"serve": serve, "migrate": migrate, "check-config": check_config, "demo": demo}[
        command
    ](settings)
