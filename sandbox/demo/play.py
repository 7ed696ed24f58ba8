"""The local demo: a scripted hypercare morning against Slack and Jira emulators on 127.0.0.1.

It runs the real bot (HTTP mode, SQLite in a temporary folder) and plays people pressing
buttons in Slack through signed requests, printing what they would have seen.
"""

from __future__ import annotations

import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.app.build import Runtime, build_runtime
from bot.config import Program, Settings
from bot.logs import setup_logging
from sandbox.demo import transcript
from sandbox.demo.closing import play_closing
from sandbox.demo.escalation import ON_CALL, REPORTERS, play_escalation, wait_until
from sandbox.demo.reports import DIGEST, play_reports
from sandbox.gateway.exposition import KongExposition
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from sandbox.slack.api import RecordedCall

TOKEN = "xoxb-demo-token"
SECRET = "demo-signing-secret"
JIRA_EMAIL, JIRA_TOKEN, JIRA_HOOK = "bot@example.com", "demo-jira-token", "demo-hook-secret"
FEEDBACK, GENERAL = "C0FEEDBACK", "C0PAYMENTS"
PEOPLE = {"U0ALICE": "alice", "U0BOB": "bob", "U0LENA": "lena (lead)", **ON_CALL, **REPORTERS}
ALERTS = "C0ALERTS"
CHANNELS = {
    FEEDBACK: "hypercare-feedback",
    GENERAL: "payments-general",
    ALERTS: "hypercare-alerts",
    DIGEST: "hypercare-digest",
}

PROGRAM = {
    "name": "Payments platform go-live",
    "go_live": "2026-11-16",
    "planned_end": "2026-12-18",
    "timezone": "Europe/Berlin",
    "channels": {"feedback": FEEDBACK, "alerts": ALERTS},
    "severities": [
        {
            "id": "sev1",
            "label": "Critical",
            "emoji": ":red_circle:",
            "description": "Production down or data at risk, no workaround",
            "jira_priority": "Highest",
            "auto_ticket": True,
        },
        {
            "id": "sev2",
            "label": "High",
            "emoji": ":large_orange_circle:",
            "description": "Major function broken, workaround painful",
            "jira_priority": "High",
            "auto_ticket": True,
        },
        {
            "id": "sev3",
            "label": "Medium",
            "emoji": ":large_yellow_circle:",
            "description": "Impaired, a workaround exists",
            "jira_priority": "Medium",
        },
    ],
    "categories": [
        {"id": "bug", "label": "Bug / defect"},
        {"id": "performance", "label": "Performance"},
        {"id": "integration", "label": "Integration failure"},
    ],
    "components": [
        {"id": "payments-api", "label": "Payments API", "jira_component": "Payments API"},
        {"id": "refunds", "label": "Refunds"},
    ],
    "environments": [{"id": "production", "label": "Production"}, {"id": "uat", "label": "UAT"}],
    "roles": {"leads": ["U0LENA"]},
    "jira": {"project": "HYP", "issue_type": "Bug", "labels": ["go-live"]},
}


class Demo:
    """One scripted morning: the bot, the Slack emulator and a narrator."""

    def __init__(self, runtime: Runtime, slack: SlackEmulator, jira: JiraEmulator) -> None:
        self.runtime = runtime
        self.slack = slack
        self.jira = jira
        self.user = SlackUserSimulator(
            f"http://127.0.0.1:{runtime.port}/slack/events", SECRET, emulator=slack
        )

    def name(self, slack_id: str) -> str:
        """Display name of a user or channel id."""
        return PEOPLE.get(slack_id) or CHANNELS.get(slack_id) or slack_id

    def place(self, channel: str) -> str:
        """Where a message went, as its reader would say it: `#channel` or `DM to person`."""
        for user_id, name in PEOPLE.items():
            if channel in (user_id, self.slack.dm_channel(user_id)):
                return f"DM to {name}"
        return "#" + self.name(channel)

    def restart(self, program: Program) -> None:
        """Restart the bot on another program file (same settings, database and emulators)."""
        fresh = build_runtime(self.runtime.settings, program)  # wiring only: nothing runs yet
        self.runtime.stop()
        self.user.close()
        self.runtime = fresh.start()
        self.user = SlackUserSimulator(
            f"http://127.0.0.1:{self.runtime.port}/slack/events", SECRET, emulator=self.slack
        )

    def say(self, time: str, text: str) -> None:
        """Narrate a step."""
        print(f"\n{time}  {text}")

    def show(self, where: str, blocks: list[dict[str, Any]] | None, text: str = "") -> None:
        """Print a message or view as the person would see it."""
        print(f"  ┌─ {where}")
        if blocks:
            print(transcript.blocks(blocks, self.name))
            buttons = [
                f"[{element['text']['text']}]"
                for block in blocks
                if block.get("type") == "actions"
                for element in block.get("elements", [])
                if element.get("type") == "button"
            ]
            if buttons:
                print("  │ " + " ".join(buttons))
        elif text:
            print(textwrap.indent(transcript.mrkdwn(text, self.name), "  │ "))
        print("  └─")

    def show_new_posts(
        self, since: int, keep: Callable[[RecordedCall], bool] | None = None
    ) -> None:
        """Print every message the bot posted after call number `since` (those `keep` keeps)."""
        for call in self.slack.calls[since:]:
            if call.status != 200 or not call.response.get("ok"):
                continue
            if keep is not None and not keep(call):
                continue
            args = call.args
            if call.method == "chat.postMessage":
                where = self.place(args["channel"])
                if args.get("thread_ts"):
                    where += " (thread reply)"
                self.show(where, args.get("blocks"), args.get("text", ""))
            elif call.method == "chat.update":
                where = self.place(args["channel"]) + " (message updated in place)"
                self.show(where, args.get("blocks"), args.get("text", ""))
            elif call.method == "chat.postEphemeral":
                who = self.name(args["user"])
                self.show(f"only visible to {who}", args.get("blocks"), args.get("text", ""))

    def play(self) -> None:
        """Run the script."""
        self.say("08:55", "alice types `/hypercare help`")
        answer = self.user.slash_command("help", user_id="U0ALICE", channel_id=GENERAL).json()
        self.show("only visible to alice", answer.get("blocks"), answer.get("text", ""))

        self.say("09:02", "alice types `/hypercare Checkout returns 504 for card payments`")
        self.user.slash_command("Checkout returns 504 for card payments", channel_id=GENERAL)
        view = self.slack.wait_for("views.open")[-1].response["view"]
        self.show("modal: Hypercare feedback", view["blocks"][:6])
        values = {
            "severity": "sev1",
            "category": "bug",
            "component": "payments-api",
            "environment": "production",
            "trying": "Pay for an order with a Visa card",
            "users_affected": "many",
            "correlation_id": "gw-7f3a9c",
            "actual": "",
        }
        self.say("09:03", "alice presses Submit but forgot to say what happened")
        errors = self.user.submit_view(view, values).json().get("errors", {})
        for block, message in errors.items():
            print(f"  ! the form marks [{block}]: {message}")
        self.say("09:04", "alice fills it in and submits again")
        mark = len(self.slack.calls)
        values["actual"] = "Spinner for 30 s, then 'Gateway timeout' (HTTP 504). <!channel> help!"
        self.user.submit_view(view, values)
        self.wait_for_ticket(1)
        self.show_new_posts(mark)

        self.say("09:20", "Jira goes down for maintenance")
        self.jira.go_down(refuse=True)
        self.say("09:21", "bob writes in #payments-general; lena reports his message to hypercare")
        ts = "1763888400.000200"
        text = "Refunds fail with 500 since 9:00, tried twice"
        self.slack.add_message(GENERAL, ts, text, "U0BOB")
        self.user.message_shortcut(
            callback_id="report_to_hypercare",
            message_text=text,
            message_user="U0BOB",
            message_ts=ts,
            channel_id=GENERAL,
            user_id="U0LENA",
        )
        view = self.slack.wait_for("views.open", count=2)[-1].response["view"]
        self.show("modal: Hypercare feedback (from a message)", view["blocks"][:2])
        mark = len(self.slack.calls)
        values = {
            "severity": "sev2",
            "category": "integration",
            "component": "refunds",
            "environment": "production",
            "users_affected": "department",
        }
        self.user.submit_view(view, values, user_id="U0LENA")
        self.slack.wait_for("chat.postEphemeral", count=3)
        self.slack.wait_for("chat.postMessage", count=4)
        self.show_new_posts(mark)
        print("  (HC-2 is stored and announced; its Jira ticket waits in the outbox)")

        self.say("09:40", "Jira is back; the bot opens the waiting ticket")
        mark = len(self.slack.calls)
        self.jira.come_back()
        self.wait_for_ticket(2)
        self.show_new_posts(mark)

        self.say("10:15", "dana moves HYP-1 to In Progress in Jira (Jira calls the webhook)")
        mark = len(self.slack.calls)
        self.jira.transition("HYP-1", "In Progress", by="Dana Dev")
        self.jira.send_webhook(
            f"http://127.0.0.1:{self.runtime.port}/jira/webhook",
            self.jira.status_change_event("HYP-1"),
            identifier="demo-1",
        )
        self.slack.wait_for("chat.update", count=3)
        time.sleep(0.5)
        self.show_new_posts(mark)

        self.say("10:16", "alice types `/hypercare ticket HC-1`")
        answer = self.user.slash_command("ticket HC-1", channel_id=GENERAL).json()
        self.show("only visible to alice", answer.get("blocks"), answer.get("text", ""))

        self.play_plus_one()
        print(
            f"\n{self.runtime.services.feedback.count()} reports stored, "
            f"{len(self.jira.issues())} Jira tickets, none lost or doubled."
        )

    def play_plus_one(self) -> None:
        """bob reports what HC-1 already says: the form suggests HC-1, and he presses +1."""
        self.say("10:30", "bob opens the form with `/hypercare` and types his summary")
        opened = len(self.slack.calls_to("views.open"))
        self.user.slash_command(user_id="U0BOB", channel_id=GENERAL)
        view = self.slack.wait_for("views.open", count=opened + 1)[-1].response["view"]
        updates = len([c for c in self.slack.calls_to("views.update") if c.response.get("ok")])
        typed = {"environment": "production", "users_affected": "team"}
        summary = "Card payments fail with 504 at checkout"
        self.user.type_in_view(view, "summary", summary, typed, user_id="U0BOB")
        shown = self.slack.wait_for("views.update", count=updates + 1)[-1].response["view"]
        suggested = [b for b in shown["blocks"] if str(b.get("block_id", "")).startswith("similar")]
        print(f'  (he typed "{summary}"; the form looks it up and updates itself in place)')
        buttons = [b["accessory"] for b in suggested if b.get("accessory", {}).get("value")]
        # Each suggestion carries its +1 button beside it; shown here as one row of buttons.
        row = {"type": "actions", "elements": buttons}
        self.show("modal: Hypercare feedback, under the summary", [*suggested, row])
        self.say("10:31", 'bob presses "Same problem: +1" on HC-1 instead of filing a duplicate')
        mark = len(self.slack.calls)
        comments = len(self.jira.comments("HYP-1"))
        self.user.click_in_view(
            shown,
            action_id="plus-one",
            value=buttons[0]["value"],
            values={**typed, "summary": summary},
            user_id="U0BOB",
        )
        done = self.slack.wait_for("views.update", count=updates + 2)[-1].args["view"]
        self.show("modal: Hypercare feedback (updated)", done["blocks"])
        wait_until(lambda: len(self.jira.comments("HYP-1")) > comments)
        wait_until(lambda: self.thread_says(FEEDBACK, "has the same problem"))
        time.sleep(0.5)  # the receipt's count follows
        self.show_new_posts(mark, lambda call: call.method != "chat.update")
        comment = str(self.jira.comments("HYP-1")[-1]["body"])
        print("  ┌─ Jira HYP-1 (new comment)")
        print("\n".join(f"  │ {line}".rstrip() for line in comment.strip().splitlines()))
        print("  └─")

    def thread_says(self, channel: str, needle: str) -> bool:
        """Tell whether the bot posted a thread reply in `channel` that contains `needle`."""
        return any(
            c.args.get("channel") == channel
            and c.args.get("thread_ts")
            and needle in str(c.args.get("text"))
            for c in self.slack.calls_to("chat.postMessage")
            if c.status == 200
        )

    def play_gateway(self, gateway: KongExposition) -> None:
        """The afternoon: the gateway's 5xx share jumps, the alert, a silence, the recovery."""
        alerts = self.runtime.services.alerts
        assert alerts is not None
        self.say("14:00", "checkout traffic flows normally through the gateway")
        for _ in range(2):
            gateway.serve(ok=20, errors=0)
            alerts.poll("gateway")
            time.sleep(0.3)
        self.say("14:05", "a bad deploy: checkout starts answering 500 to many requests")
        mark = len(self.slack.calls)
        gateway.serve(ok=70, errors=30)
        alerts.poll("gateway")
        post = self.slack.wait_for("chat.postMessage", count=self.posts_so_far() + 1)[-1]
        self.show_new_posts(mark)
        self.say("14:06", "lena (a lead) presses Silence…, picks 1 hour and says why")
        mark = len(self.slack.calls)
        ts = post.response["ts"]
        self.user.click_button(
            action_id="silence-alert",
            value="1",
            message_ts=ts,
            channel_id=ALERTS,
            user_id="U0LENA",
        )
        modal = self.slack.wait_for("views.open", count=3)[-1].response["view"]
        reason = "Rollback in progress"
        self.user.submit_view(modal, {"duration": "1h", "reason": reason}, user_id="U0LENA")
        self.slack.wait_for("chat.update", count=4)
        time.sleep(0.5)
        self.show_new_posts(mark)
        self.say("14:20", "the rollback lands; no more 500s")
        mark = len(self.slack.calls)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.resolved():
            gateway.serve(ok=200, errors=0)
            alerts.poll("gateway")
            time.sleep(1)
        time.sleep(0.5)
        self.show_new_posts(mark)

    def posts_so_far(self) -> int:
        """How many messages the bot has posted so far."""
        calls = self.slack.calls_to("chat.postMessage")
        return len([c for c in calls if c.status == 200 and c.response.get("ok")])

    def resolved(self) -> bool:
        """Tell whether the gateway alert's resolution reached Slack."""
        return any(
            "Resolved after" in c.args.get("text", "")
            for c in self.slack.calls_to("chat.postMessage")
        )

    def wait_for_ticket(self, feedback_id: int, timeout: float = 60.0) -> None:
        """Wait until a feedback's ticket is recorded and its announcements have landed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            feedback = self.runtime.services.feedback.get(feedback_id)
            if feedback and feedback.ticket_key:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # the receipt update, the thread note and the reporter's note follow


def run_demo(log_level: str = "WARNING") -> None:
    """Start the emulator and the bot, play the script, and clean up."""
    # The transcript is the demo's output; log lines would interleave with it. LOG_LEVEL=DEBUG
    # (or WARNING) shows them anyway.
    setup_logging("ERROR" if log_level.upper() == "INFO" else log_level)
    jira = JiraEmulator(email=JIRA_EMAIL, api_token=JIRA_TOKEN, webhook_secret=JIRA_HOOK)
    with SlackEmulator(token=TOKEN) as slack, jira, tempfile.TemporaryDirectory() as tmp:
        for user_id, name in PEOPLE.items():
            slack.add_user(user_id, name.split()[0])
        for channel_id, name in CHANNELS.items():
            slack.add_channel(channel_id, name)
        settings = Settings(
            slack_bot_token=SecretStr(TOKEN),
            slack_signing_secret=SecretStr(SECRET),
            slack_api_url=slack.base_url,
            database_url=f"sqlite:///{Path(tmp) / 'demo.db'}",
            host="127.0.0.1",
            port=0,
            jira_url=jira.url,
            jira_email=JIRA_EMAIL,
            jira_api_token=SecretStr(JIRA_TOKEN),
            jira_webhook_secret=SecretStr(JIRA_HOOK),
            jira_read_timeout=2.0,
            escalation_tick_seconds=0.2,  # the escalation chapter's waits are seconds
            digest_check_seconds=0.2,  # the reports chapter's digest is due as the bot restarts
            _env_file=None,
        )
        gateway = KongExposition()
        program = Program.model_validate({**PROGRAM, "metrics": metrics_section(gateway.url)})
        demo = Demo(build_runtime(settings, program).start(), slack, jira)
        try:
            print(
                "Hypercare Bot demo: the real bot, Slack and Jira emulators and a gateway's "
                "metrics endpoint on 127.0.0.1; no credentials."
            )
            demo.play()
            demo.play_gateway(gateway)
            play_escalation(demo, PROGRAM)
            play_reports(demo, PROGRAM)
            play_closing(demo, PROGRAM)
        finally:
            demo.runtime.stop()
            demo.user.close()
            gateway.stop()


def metrics_section(url: str) -> dict[str, object]:
    """The demo program's gateway alerts: Kong's metrics, alert above 5 % of 5xx."""
    return {
        "allowed_hosts": ["127.0.0.1"],
        "sources": [{"id": "gateway", "url": url, "preset": "kong", "interval": 3600}],
        "rules": [
            {
                "id": "checkout-5xx",
                "source": "gateway",
                "kind": "error_rate",
                "threshold": 0.05,
                "resolve_threshold": 0.01,
                "window": 10,
                "severity": "sev1",
            }
        ],
    }
