"""The demo's closing chapter: the morning's sev1 is fixed and explained, a lesson is kept, and
the lead hands over with the hypercare closing report.

It runs on the reports chapter's bot (digest channel and exit criteria in place). bob takes HC-1,
lena resolves it, and the thread asks its owner for the root cause, which bob records in the
form. lena adds a lesson, then asks for the closing report: the bot posts exit-report.md and its
charts in #hypercare-digest, and the same report is written to a folder of its own, which is
left in place (the only thing the demo keeps) so it can be opened afterwards.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.ports import utc_now
from bot.reports.exit import write_files
from sandbox.demo.escalation import wait_until
from sandbox.demo.reports import DIGEST

if TYPE_CHECKING:
    from sandbox.demo.play import Demo

OWNER = "U0BOB"
HEAD_LINES = 24  # of the Markdown, printed at the end
ROOT_CAUSE = {
    "rca-symptom": "Card payments at checkout timed out with 504",
    "rca-why-1": "The gateway waited 30 s for the card acquirer",
    "rca-why-2": "The acquirer's TLS certificate had expired",
    "rca-why-3": "Nobody watched the certificate's expiry date",
    "rca-category": "third_party",
    "rca-fix": "The acquirer renewed the certificate",
    "rca-prevention": "Alert 30 days before any partner certificate expires",
}


def play_closing(demo: Demo, base: dict[str, Any]) -> Path:
    """Resolve and explain HC-1, add a lesson, post and write the closing report; return the
    folder the report was written to."""
    lead, feedback = base["roles"]["leads"][0], base["channels"]["feedback"]
    hc1 = demo.runtime.services.feedback.get(1)
    assert hc1 is not None and hc1.receipt_ts is not None
    receipt = {"message_ts": hc1.receipt_ts, "channel_id": hc1.channel_id}

    demo.say("17:20", "the acquirer renews its certificate; bob presses *Take it* on HC-1")
    mark = len(demo.slack.calls)
    demo.user.click_button(action_id="take-item", value="1", user_id=OWNER, **receipt)
    wait_until(lambda: demo.thread_says(feedback, "took HC-1"))
    demo.show_new_posts(mark, lambda call: "took HC-1" in str(call.args.get("text")))

    demo.say("17:25", f"{demo.name(lead)} presses *Resolve* on HC-1's receipt")
    mark = len(demo.slack.calls)
    demo.user.click_button(action_id="resolve-item", value="1", user_id=lead, **receipt)
    prompt = wait_until(lambda: _posts_with_button(demo, mark, "record-root-cause"))
    wait_until(lambda: demo.thread_says(feedback, "resolved HC-1"))
    demo.show_new_posts(mark, lambda call: call.method == "chat.postMessage")

    demo.say("17:30", "bob presses *Record root cause* and fills in the 5 whys")
    opened = len(demo.slack.calls_to("views.open"))
    demo.user.click_button(
        action_id="record-root-cause",
        value="1",
        message_ts=prompt[0].response["ts"],
        channel_id=prompt[0].args["channel"],
        user_id=OWNER,
    )
    form = demo.slack.wait_for("views.open", count=opened + 1)[-1].response["view"]
    demo.show("modal: Record root cause (the first fields)", form["blocks"][:4])
    mark = len(demo.slack.calls)
    comments = len(demo.jira.comments("HYP-1"))
    demo.user.submit_view(form, ROOT_CAUSE, user_id=OWNER)
    wait_until(lambda: demo.thread_says(feedback, "recorded the root cause of HC-1"))
    wait_until(lambda: len(demo.jira.comments("HYP-1")) > comments)
    demo.show_new_posts(mark, lambda call: call.method == "chat.postMessage")
    print("  (the root cause is also a comment on HYP-1 in Jira)")

    demo.say(
        "17:40",
        f"{demo.name(lead)} types `/hypercare lesson Watch partner certificate expiry dates, "
        "see HC-1`",
    )
    opened = len(demo.slack.calls_to("views.open"))
    text = "Watch partner certificate expiry dates, see HC-1"
    demo.user.slash_command(f"lesson {text}", user_id=lead, channel_id=feedback)
    form = demo.slack.wait_for("views.open", count=opened + 1)[-1].response["view"]
    values = {"lesson-text": text, "lesson-kind": "to_improve", "lesson-items": "HC-1"}
    answer = demo.user.submit_view(form, values, user_id=lead).json()
    demo.show("modal: Add a lesson (after Save)", answer["view"]["blocks"])

    demo.say("18:00", f"{demo.name(lead)} types `/hypercare exit-report` to hand over")
    answer = demo.user.slash_command("exit-report", user_id=lead, channel_id=feedback).json()
    demo.show(f"only visible to {demo.name(lead)}", None, answer.get("text", ""))
    files = wait_until(lambda: demo.slack.files(DIGEST), timeout=30.0)
    attached = "\n".join(f"📎 {f['filename']}" for f in files)
    demo.show(demo.place(DIGEST), None, f"{files[0]['initial_comment']}\n{attached}")

    folder = Path(tempfile.mkdtemp(prefix="hypercare-exit-report-"))
    service = demo.runtime.services.exit_report
    path = write_files(service.files(service.build(utc_now())), folder)
    demo.say(
        "18:01",
        f"the same report with `hypercare-bot report exit --out {folder}` (kept after the demo)",
    )
    charts = len(list(folder.glob("*.png")))
    print(f"  Written: {path} and {charts} chart(s) beside it. Its head:")
    head = path.read_text(encoding="utf-8").splitlines()[:HEAD_LINES]
    print("\n".join(f"  │ {line}" for line in head))
    print("  │ …")
    return folder


def _posts_with_button(demo: Demo, since: int, action: str) -> list[Any]:
    """Messages the bot posted after call `since` that carry the button `action`."""
    return [
        c
        for c in demo.slack.calls[since:]
        if c.method == "chat.postMessage"
        and c.status == 200
        and action in json.dumps(c.args.get("blocks") or [])
    ]
