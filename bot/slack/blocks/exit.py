"""What Slack shows of the closing report: the answers to `/hypercare exit-report` and the
message its files are shared with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.config import Program
from bot.domain import Verdict
from bot.ports import ReportFile
from bot.reports.exit import ExitOutcome
from bot.slack.text import escape

_VERDICTS = {
    Verdict.READY: "the exit criteria say it is ready to exit hypercare",
    Verdict.NOT_READY: "the exit criteria say it is *not ready* to exit hypercare yet",
    Verdict.NO_CRITERIA: "no exit criteria are set",
}


def _day(day: dt.date) -> str:
    return f"{day:%a %d %b %Y}"


def exit_answer(outcome: ExitOutcome, program: Program, start: dt.date) -> str:
    """The private answer to `/hypercare exit-report` (`start`: the window's first day)."""
    if outcome is ExitOutcome.QUEUED:
        return (
            ":hourglass_flowing_sand: Building the hand-over report… It will be posted in "
            f"<#{program.channels.digest}> as `exit-report.md` with its charts."
        )
    if outcome is ExitOutcome.NOT_LEAD:
        return "Only hypercare leads can post the hand-over report."
    if outcome is ExitOutcome.NO_DIGEST_CHANNEL:
        return (
            "There is no digest channel to post the hand-over report in: set `channels.digest` "
            "in the program file, or write it with `hypercare-bot report exit --out DIR`."
        )
    if outcome is ExitOutcome.BEFORE_GO_LIVE:
        return (
            f"Hypercare starts on {_day(start)}: there is nothing to hand over before it. "
            "Nothing was posted."
        )
    return (
        f"Nothing was recorded in the hypercare window yet (since {_day(start)}): no report "
        "and no alert, so there is nothing to hand over. Nothing was posted."
    )


def share_comment(
    program: Program,
    as_of: dt.datetime,
    verdict: Verdict,
    requested_by: str | None,
    files: Sequence[ReportFile],
) -> str:
    """The message the report's files are shared with in the digest channel."""
    local = as_of.astimezone(program.zone)
    who = f", asked for by <@{requested_by}>" if requested_by else ""
    charts = len(files) - 1
    return (
        f":page_facing_up: *Hypercare closing report* · {escape(program.name)} · as of "
        f"{local:%a %d %b %Y %H:%M} ({escape(program.timezone)}){who}\n"
        f"The hand-over in `{files[0].filename}` (Markdown) with {charts} chart(s); "
        f"{_VERDICTS[verdict]}."
    )
