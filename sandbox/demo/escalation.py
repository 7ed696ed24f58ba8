"""The demo's escalation chapter: a sev1 nobody acknowledges climbs the on-call tiers.

The bot restarts on the demo program plus on-call rotas and a sev1 escalation policy shaped like
hypercare.example.yaml's, with one-person rotas and waits of seconds instead of minutes (the
demo's Settings tick escalation every 0.2 s). The restart keeps the morning's sev1 report and
the afternoon's sev1 alert out of it: only items filed under a policy escalate. The primary is
paged, then the secondary, who presses Acknowledge in the page DM; the leads, due next, are not.
Then a bad deploy: four people file sev1 reports within seconds, and the primary gets one DM
listing them all, updated in place as they arrive, and takes them with *Acknowledge all*.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bot.config import Program
from sandbox.demo.programs import two_tier_escalation
from sandbox.slack.api import RecordedCall

if TYPE_CHECKING:
    from sandbox.demo.play import Demo

PRIMARY, SECONDARY = "U0PRIYA", "U0SAM"
BURST = {  # who files what in the bad deploy's minute (dana and omar only appear here)
    "U0BOB": "Checkout page stays blank after the 16:45 deploy",
    "U0DANA": "Card payments declined with 'internal error'",
    "U0OMAR": "No order confirmation e-mails since 16:45",
    "U0LENA": "POST /v1/payments answers 503 for every merchant",
}
# Display names, merged into the demo's people.
ON_CALL = {PRIMARY: "priya", SECONDARY: "sam"}
REPORTERS = {"U0DANA": "dana", "U0OMAR": "omar"}
WAIT = 2  # seconds between tiers here; the example program waits 5 minutes
T = TypeVar("T")


def escalation_sections() -> dict[str, Any]:
    """The `oncall` and `escalation` sections: one-person rotas (since 2020), a fast sev1 policy."""
    return two_tier_escalation(PRIMARY, SECONDARY, wait_s=WAIT, rotas=("integrator", "customer"))


def escalating_program(base: dict[str, Any]) -> Program:
    """The demo program with on-call rotas and the escalation policy added."""
    return Program.model_validate({**base, **escalation_sections()})


def wait_until(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Poll until `probe` returns something truthy; fail the demo loudly if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise RuntimeError(f"the demo waited {timeout} s in vain for {probe.__doc__ or 'a step'}")


def pages_to(demo: Demo, user: str, since: int = 0) -> list[RecordedCall]:
    """Page DMs (messages with an Acknowledge button) the bot sent one person after call
    number `since`."""
    return [
        c
        for c in demo.slack.calls[since:]
        if c.method == "chat.postMessage"
        if c.status == 200
        and c.response.get("ok")
        and c.args.get("channel") == user
        and "ack-item" in json.dumps(c.args.get("blocks"))
    ]


def play_escalation(demo: Demo, base: dict[str, Any]) -> None:
    """File a sev1 nobody acknowledges; the secondary acknowledges it from the page DM."""
    lead = base["roles"]["leads"][0]
    feedback = base["channels"]["feedback"]
    demo.say(
        "16:00",
        "the team adds on-call rotas (primary: priya, secondary: sam) and a sev1 escalation "
        "policy to the program file, and restarts the bot",
    )
    print(
        "  (the policy pages the primary on-call, then the secondary, then the leads, 5 min "
        f"apart, until someone acknowledges; the demo waits {WAIT} s instead of 5 min)"
    )
    demo.restart(escalating_program(base))

    demo.say("16:01", "alice types `/hypercare oncall`")
    answer = demo.user.slash_command("oncall", channel_id=feedback).json()
    demo.show("only visible to alice", answer.get("blocks"), answer.get("text", ""))

    demo.say("16:30", "alice files a sev1 that nobody acknowledges")
    mark = len(demo.slack.calls)
    opened = len(demo.slack.calls_to("views.open"))
    demo.user.slash_command("Refund confirmations show another customer's name")
    view = demo.slack.wait_for("views.open", count=opened + 1)[-1].response["view"]
    values = {
        "severity": "sev1",
        "category": "bug",
        "component": "refunds",
        "environment": "production",
        "trying": "Check a refund confirmation",
        "actual": "The e-mail and the page name a different customer",
        "users_affected": "team",
    }
    demo.user.submit_view(view, values)
    [primary] = wait_until(lambda: pages_to(demo, PRIMARY))
    wait_until(lambda: mentioned(demo, "(primary on-call)"))
    filed = demo.runtime.services.feedback.get(demo.runtime.services.feedback.count())
    assert filed is not None and filed.receipt_ts is not None
    about = about_item(demo, filed.short_id, filed.receipt_ts)
    print("  The receipt, and at once a page DM to priya and a mention in the item's thread:")
    demo.show_new_posts(mark, lambda call: about(call) and not ticket_news(call))
    print(f"  ({filed.short_id} also gets its Jira ticket, as in the morning; not shown again)")

    mark = len(demo.slack.calls)
    [secondary] = wait_until(lambda: pages_to(demo, SECONDARY), timeout=WAIT + 5)
    wait_until(lambda: mentioned(demo, "(secondary on-call)"))
    demo.say(
        "16:35", f"5 minutes on ({WAIT} s in the demo) nobody has acknowledged: the bot pages sam"
    )
    demo.show_new_posts(mark, about)

    demo.say("16:36", "sam presses Acknowledge in the DM")
    mark = len(demo.slack.calls)
    demo.user.click_button(
        action_id="ack-item",
        value=f"feedback:{filed.id}",
        message_ts=secondary.response["ts"],
        channel_id=secondary.response["channel"],
        user_id=SECONDARY,
    )
    # Both page DMs and the receipt say who acknowledged, and the thread gets a note.
    wait_until(lambda: acknowledged_posts(demo, mark) >= 4)
    demo.show_new_posts(mark, about)

    # Stay until well past the time the leads would have been paged.
    time.sleep(max(0.0, primary.at + 2 * WAIT + 0.6 - time.time()))
    paged = [len(pages_to(demo, person)) for person in (PRIMARY, SECONDARY, lead)]
    demo.say("16:40", "the leads' turn comes, but the climb stopped at sam's acknowledgement")
    thread = "no mention of the leads" if not mentioned(demo, "(lead)") else "the leads mentioned"
    print(
        f"  Page DMs sent: priya {paged[0]}, sam {paged[1]}, {demo.name(lead)} {paged[2]}; "
        f"{thread} in the thread."
    )
    play_burst(demo)


def play_burst(demo: Demo) -> None:
    """Four sev1 reports within seconds: one grouped DM to priya, who acknowledges them all."""
    demo.say(
        "16:50",
        "a bad deploy takes checkout down: bob, dana, omar and lena file sev1 reports within "
        "seconds",
    )
    print(
        "  (pages to one person within a minute share one DM, updated in place as more arrive: "
        "`group_pages_within` in the program file)"
    )
    mark = len(demo.slack.calls)
    opened = len(demo.slack.calls_to("views.open"))
    for n, (reporter, summary) in enumerate(BURST.items(), start=1):
        demo.user.slash_command(summary, user_id=reporter)
        view = demo.slack.wait_for("views.open", count=opened + n)[-1].response["view"]
        values = {
            "severity": "sev1",
            "category": "bug",
            "component": "payments-api",
            "environment": "production",
            "trying": "Pay for an order",
            "actual": summary,
            "users_affected": "many",
        }
        demo.user.submit_view(view, values, user_id=reporter)
    grouped = wait_until(lambda: group_dm(demo, mark, waiting=len(BURST)))
    updates = sum(
        1
        for c in demo.slack.calls_to("chat.update")
        if c.status == 200 and c.args.get("ts") == grouped.response["ts"]
    )
    print(
        f"  priya's page DM for the {len(BURST)} reports: posted once, updated in place "
        f"{updates} times as they arrived; as it reads now:"
    )
    demo.show("DM to priya", reads_now(demo, grouped))

    demo.say("16:51", "priya presses Acknowledge all")
    group_id = next(
        element["value"]
        for block in reads_now(demo, grouped)
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("action_id") == "ack-group"
    )
    demo.user.click_button(
        action_id="ack-group",
        value=group_id,
        message_ts=grouped.response["ts"],
        channel_id=grouped.response["channel"],
        user_id=PRIMARY,
    )
    wait_until(lambda: "are taken" in json.dumps(reads_now(demo, grouped)))
    demo.show("DM to priya (message updated in place)", reads_now(demo, grouped))
    time.sleep(WAIT + 0.6)  # past the time sam would have been paged for any of them
    to_priya, to_sam = (len(pages_to(demo, person, mark)) for person in (PRIMARY, SECONDARY))
    climbed = f"sam was paged for {to_sam} of them" if to_sam else "sam was not paged"
    print(
        f"  Page DMs sent for the {len(BURST)} reports: priya {to_priya}; {climbed}. Each "
        "report's thread says who took it."
    )


def group_dm(demo: Demo, since: int, waiting: int) -> RecordedCall | None:
    """The page DM to priya, posted after call `since`, that now lists `waiting` items all
    needing someone."""
    headline = f"{waiting} of the {waiting} items paged to you"
    for call in pages_to(demo, PRIMARY, since):
        if headline in json.dumps(reads_now(demo, call)):
            return call
    return None


def reads_now(demo: Demo, posted: RecordedCall) -> list[dict[str, Any]]:
    """The blocks a posted message shows now, updates included (the emulator's copy)."""
    message = demo.slack.message(posted.response["channel"], posted.response["ts"])
    return list(message.get("blocks") or [])


def about_item(demo: Demo, short_id: str, receipt_ts: str) -> Callable[[RecordedCall], bool]:
    """Keep only the item's receipt, its thread, page DMs and notes about it to one person."""

    def keep(call: RecordedCall) -> bool:
        args = call.args
        if demo.place(str(args.get("channel"))).startswith("DM to "):
            return True
        if call.method == "chat.postEphemeral":
            return short_id in str(args.get("text"))
        ts = args.get("thread_ts") or args.get("ts") or call.response.get("ts")
        return bool(ts == receipt_ts)

    return keep


def ticket_news(call: RecordedCall) -> bool:
    """Tell whether a post is about the item's Jira ticket (the morning showed those already)."""
    if call.method == "chat.update":
        return True
    aside = call.method == "chat.postEphemeral" or bool(call.args.get("thread_ts"))
    return aside and "HYP-" in str(call.args.get("text"))


def mentioned(demo: Demo, role: str) -> bool:
    """Tell whether the item's thread mentions someone paged in this role."""
    return any(
        role in str(c.args.get("text")) and c.args.get("thread_ts")
        for c in demo.slack.calls_to("chat.postMessage")
        if c.status == 200
    )


def acknowledged_posts(demo: Demo, since: int) -> int:
    """How many messages saying who acknowledged the bot sent or updated after call `since`."""
    return sum(
        1
        for c in demo.slack.calls[since:]
        if c.status == 200
        and c.method in ("chat.postMessage", "chat.update")
        and re.search(r"Acknowledged by|acknowledged [A-Z]+-\d", json.dumps(c.args))
    )
