"""The demo's reports chapter: the stand-up digest, `/hypercare status` and the Home tab.

The bot restarts on the escalation chapter's program plus a digest channel, a daily digest and
exit criteria like hypercare.example.yaml's. A real team's digest goes out at 09:00; the demo's
whole day took well under a minute of real time, so its digest is scheduled every day at the
current minute (in the program's zone). The bot's own scheduler (asking every 0.2 s in the
demo) then finds today's slot due at once, claims it and queues the post, and the worker posts
it: the path a 09:00 digest takes. The slot is never "late" (that needs 5 minutes), and the
weekly review is switched off so that a demo run on a Friday afternoon shows the same thing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.config import Program
from sandbox.demo.escalation import escalation_sections, wait_until

if TYPE_CHECKING:
    from sandbox.demo.play import Demo

DIGEST = "C0DIGEST"
EXIT_CRITERIA = [
    {"no_open_severity": {"severity": "sev1", "days": 7}},
    {"no_sla_breach": {"days": 5}},
    "no_unowned_items",
]


def reporting_program(base: dict[str, Any], now: dt.datetime | None = None) -> Program:
    """The escalating demo program with a digest channel, a digest due now and exit criteria."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(base["timezone"]))
    reports = {
        "daily": {"at": f"{local:%H:%M}", "days": "MON-SUN"},
        "weekly": {"enabled": False},
        "exit_criteria": EXIT_CRITERIA,
    }
    channels = {**base["channels"], "digest": DIGEST}
    return Program.model_validate(
        {**base, **escalation_sections(), "channels": channels, "reports": reports}
    )


def play_reports(demo: Demo, base: dict[str, Any]) -> None:
    """Post the day's digest through the scheduler, then show status and alice's Home tab."""
    lead, feedback = base["roles"]["leads"][0], base["channels"]["feedback"]
    demo.say(
        "17:00",
        "the team adds a digest channel (#hypercare-digest), a daily stand-up digest and exit "
        "criteria to the program file, and restarts the bot",
    )
    print(
        "  (a team's digest goes out at 09:00 on weekdays; the demo's day took under a minute, "
        "so its digest is due at this very minute, and the ages in it read in minutes)"
    )
    mark = len(demo.slack.calls)
    demo.restart(reporting_program(base))

    demo.say("17:01", "the digest's time comes: the bot posts the stand-up digest")
    digest = wait_until(lambda: _digests(demo, mark), timeout=10.0)[-1]
    if "full list in the thread" in json.dumps(digest.get("blocks")):
        wait_until(lambda: demo.slack.thread(DIGEST, digest["ts"]))
    demo.show(demo.place(DIGEST), digest.get("blocks"), digest.get("text", ""))
    for reply in demo.slack.thread(DIGEST, digest["ts"]):
        demo.show(demo.place(DIGEST) + " (thread reply)", reply.get("blocks"), reply["text"])

    demo.say("17:05", f"{demo.name(lead)} types `/hypercare status`")
    answer = demo.user.slash_command("status", user_id=lead, channel_id=feedback).json()
    demo.show(f"only visible to {demo.name(lead)}", answer.get("blocks"), answer.get("text", ""))

    demo.say("17:06", "alice opens the bot's Home tab in Slack")
    published = len(demo.slack.calls_to("views.publish"))
    demo.user.open_app_home(user_id="U0ALICE")
    demo.slack.wait_for("views.publish", count=published + 1)
    blocks = demo.slack.home("U0ALICE")["blocks"]
    dividers = [index for index, block in enumerate(blocks) if block["type"] == "divider"]
    # The readiness between the dividers is the status answer above: shown once is enough.
    demo.show("Home tab of alice", blocks[: dividers[0] + 1] + blocks[dividers[-1] + 1 :])
    print('  (the tab also shows the exit readiness, as above, after "On call now"; left out here)')


def _digests(demo: Demo, since: int) -> list[dict[str, Any]]:
    """Digests posted in the digest channel since call `since`, as they read in Slack now."""
    return [
        demo.slack.message(DIGEST, call.response["ts"])
        for call in demo.slack.calls[since:]
        if call.method == "chat.postMessage"
        and call.status == 200
        and call.response.get("ok")
        and call.args.get("channel") == DIGEST
        and not call.args.get("thread_ts")
    ]
