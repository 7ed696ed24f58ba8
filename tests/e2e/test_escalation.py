"""End to end: a sev1 nobody acknowledges climbs the tiers; Acknowledge stops it; gaps are skipped.

The bot runs on the real clock with shortened waits (seconds), ticking every 0.2 s, against the
Slack emulator; people press buttons through the signed user simulator.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.domain import ItemKind, ItemRef
from bot.escalation.paging import GROUP_CAPACITY, MENTION_CONCURRENCY, deliver_effect
from sandbox.demo.programs import two_tier_escalation
from sandbox.slack import SlackEmulator, SlackUserSimulator
from sandbox.slack.api import RecordedCall
from storage import db
from storage.escalations import EscalationRepository
from tests.conftest import SIGNING_SECRET, bot_settings
from tests.e2e.test_feedback_flow import good_values, open_modal
from tests.support import JobRuns, claims, wait_outbox_drained, wait_until

ROOT = Path(__file__).resolve().parents[2]
PRIMARY, SECONDARY, LEAD, ADMIN = "U0PRIM", "U0SECOND", "U0LEAD1", "U0ADMIN1"
WAIT = 2  # seconds between tiers


def escalating_program(primary: str = PRIMARY, secondary: str = SECONDARY) -> Program:
    """The example program with one-person rotas (on call since 2020) and a fast sev1 policy."""
    return Program.model_validate(escalating_file(primary, secondary))


def escalating_file(primary: str = PRIMARY, secondary: str = SECONDARY) -> dict[str, Any]:
    """The program file of `escalating_program`, as YAML would load it."""
    raw: dict[str, Any] = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text())
    raw.update(two_tier_escalation(primary, secondary, wait_s=WAIT))
    # No digests: a bot started after the digest's (or the weekly review's) time posts it late.
    raw["channels"].pop("digest", None)
    return raw


Start = Callable[[Program], tuple[Runtime, SlackUserSimulator]]


@pytest.fixture
def start_bot(slack: SlackEmulator, database_url: str) -> Iterator[Start]:
    """Start a bot on a given program; stopped at the end of the test."""
    started: list[tuple[Runtime, SlackUserSimulator]] = []

    def start(program: Program) -> tuple[Runtime, SlackUserSimulator]:
        settings = bot_settings(slack, database_url).model_copy(
            update={"escalation_tick_seconds": 0.2}
        )
        runtime = build_runtime(settings, program).start()
        url = f"http://127.0.0.1:{runtime.port}/slack/events"
        started.append((runtime, SlackUserSimulator(url, SIGNING_SECRET, slack)))
        return started[-1]

    yield start
    for runtime, user in started:
        user.close()
        runtime.stop()


def pages_to(slack: SlackEmulator, user: str) -> list[RecordedCall]:
    """Page DMs the bot sent one person."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.status == 200
        and c.response.get("ok")
        and c.args.get("channel") == user
        and "ack-item" in json.dumps(c.args.get("blocks"))
    ]


def file_sev1(user: SlackUserSimulator, slack: SlackEmulator) -> tuple[float, dict[str, Any]]:
    """File a sev1 and return when, and its receipt once posted."""
    view = open_modal(user, slack)
    filed = time.time()
    assert user.submit_view(view, good_values(severity="sev1")).status_code == 200
    receipt = wait_until(
        lambda: next(
            (m for m in slack.messages("C0FEEDBACK") if "ack-item" in json.dumps(m.get("blocks"))),
            None,
        )
    )
    return filed, receipt


def file_burst(user: SlackUserSimulator, slack: SlackEmulator, count: int, summary: str) -> None:
    """File `count` sev1 reports at once from concurrent clients, each acked 200."""
    view = open_modal(user, slack)

    def file(index: int) -> int:
        with SlackUserSimulator(user.bot_url, SIGNING_SECRET) as client:
            values = good_values(severity="sev1", summary=f"{summary}, report {index}")
            return client.submit_view({**view, "id": f"VBURST{index}"}, values).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(file, range(count))) == {200}


def thread_texts(slack: SlackEmulator, receipt: dict[str, Any]) -> list[str]:
    """The texts posted in the receipt's thread."""
    return [str(m.get("text")) for m in slack.thread("C0FEEDBACK", receipt["ts"])]


def test_an_unacknowledged_sev1_climbs_each_tier_at_its_time(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """Primary at once, secondary after the first wait, the lead after the second; once each."""
    bot, user = start_bot(escalating_program())
    ticks = JobRuns(bot, "escalation-tick")
    filed, receipt = file_sev1(user, slack)
    [primary] = wait_until(lambda: pages_to(slack, PRIMARY))
    [secondary] = wait_until(lambda: pages_to(slack, SECONDARY), timeout=10)
    [lead] = wait_until(lambda: pages_to(slack, LEAD), timeout=10)
    assert primary.at - filed < 1.5
    assert WAIT - 0.1 <= secondary.at - filed < WAIT + 1.5
    assert 2 * WAIT - 0.1 <= lead.at - filed < 2 * WAIT + 1.5
    assert "primary on-call" in json.dumps(primary.args["blocks"])
    texts = wait_until(
        lambda: len(thread_texts(slack, receipt)) >= 3 and thread_texts(slack, receipt)
    )
    assert any(f"Paging <@{PRIMARY}> (primary on-call)" in t for t in texts)
    assert any(f"Paging <@{SECONDARY}> (secondary on-call)" in t for t in texts)
    assert any(f"Paging <@{LEAD}> (lead)" in t for t in texts)
    # A tick after the lead's page, then the outbox drained: a second page would be out by now.
    ticks.wait_for_run_after(lead.at)
    wait_outbox_drained(bot.engine)
    assert len(claims(bot.engine, "escalation:")) == 3  # each step was handed out once
    assert [len(pages_to(slack, p)) for p in (PRIMARY, SECONDARY, LEAD)] == [1, 1, 1]


def test_acknowledging_mid_climb_stops_it_and_updates_the_messages(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """The primary presses Acknowledge in the DM: no secondary page, receipt and DM say who."""
    bot, user = start_bot(escalating_program())
    ticks = JobRuns(bot, "escalation-tick")
    _, receipt = file_sev1(user, slack)
    [page] = wait_until(lambda: pages_to(slack, PRIMARY))
    response = user.click_button(
        action_id="ack-item",
        value="feedback:1",
        message_ts=page.response["ts"],
        channel_id=page.response["channel"],
        user_id=PRIMARY,
    )
    assert response.status_code == 200
    dm = wait_until(
        lambda: (
            "Acknowledged by"
            in json.dumps(slack.message(page.response["channel"], page.response["ts"]))
            and slack.message(page.response["channel"], page.response["ts"])
        )
    )
    assert f"<@{PRIMARY}>" in json.dumps(dm["blocks"]) and "ack-item" not in json.dumps(
        dm["blocks"]
    )
    wait_until(lambda: "Acknowledged by" in json.dumps(slack.message("C0FEEDBACK", receipt["ts"])))
    wait_until(lambda: any("acknowledged HC-1" in t for t in thread_texts(slack, receipt)))
    # A tick past the time the lead was due, then the outbox drained: neither tier was paged.
    assert bot.services.escalation is not None
    record = bot.services.escalation.get(ItemRef(ItemKind.FEEDBACK, 1))
    assert record is not None
    ticks.wait_for_run_after(record.state.started_at + dt.timedelta(seconds=2 * WAIT))
    wait_outbox_drained(bot.engine)
    assert len(claims(bot.engine, "escalation:")) == 1  # the primary's step only
    assert pages_to(slack, SECONDARY) == [] and pages_to(slack, LEAD) == []


def receipts(slack: SlackEmulator) -> list[dict[str, Any]]:
    """The receipts with an Acknowledge button posted in the feedback channel so far."""
    return [m for m in slack.messages("C0FEEDBACK") if "ack-item" in json.dumps(m.get("blocks"))]


def test_a_burst_of_sev1s_pages_the_primary_in_one_dm_updated_in_place(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """Three sev1s filed together: the primary gets one DM (one notification) that ends up
    listing all three, each with its own Acknowledge, plus *Acknowledge all*; every item's
    thread gets its own mention. Acknowledge all takes the three and stops their climbs."""
    bot, user = start_bot(escalating_program())
    ticks = JobRuns(bot, "escalation-tick")
    views = [open_modal(user, slack) for _ in range(3)]
    for view in views:
        assert user.submit_view(view, good_values(severity="sev1")).status_code == 200
    filed = wait_until(lambda: len(receipts(slack)) == 3 and receipts(slack))
    [page] = wait_until(lambda: pages_to(slack, PRIMARY))
    where = (page.response["channel"], page.response["ts"])

    def listed() -> str | None:
        blocks = json.dumps(slack.message(*where)["blocks"])
        return blocks if all(f'"feedback:{n}"' in blocks for n in (1, 2, 3)) else None

    blocks = wait_until(listed)
    assert blocks.count('"ack-item"') == 3 and '"ack-group"' in blocks
    for receipt in filed:
        wait_until(lambda r=receipt: any("(primary on-call)" in t for t in thread_texts(slack, r)))
    group = json.loads(blocks)[-2]["elements"][0]["value"]  # the Acknowledge all button
    response = user.click_button(
        action_id="ack-group",
        value=group,
        message_ts=where[1],
        channel_id=where[0],
        user_id=PRIMARY,
    )
    assert response.status_code == 200
    taken = wait_until(
        lambda: "are taken" in json.dumps(slack.message(*where)) and slack.message(*where)
    )
    assert "ack-item" not in json.dumps(taken["blocks"])
    for receipt in filed:
        wait_until(
            lambda r=receipt: "Acknowledged by" in json.dumps(slack.message("C0FEEDBACK", r["ts"]))
        )
    # A tick past the secondary's due time, then the outbox drained: nobody else was paged.
    assert bot.services.escalation is not None
    record = bot.services.escalation.get(ItemRef(ItemKind.FEEDBACK, 3))
    assert record is not None
    ticks.wait_for_run_after(record.state.started_at + dt.timedelta(seconds=WAIT))
    wait_outbox_drained(bot.engine)
    assert len(pages_to(slack, PRIMARY)) == 1 and pages_to(slack, SECONDARY) == []


def listed_items(slack: SlackEmulator, person: str) -> list[set[str]]:
    """The items (`feedback:N`) each page DM in the person's DM channel lists, as it stands."""
    return [
        set(re.findall(r'"value": "(feedback:\d+)"', json.dumps(m.get("blocks"))))
        for m in slack.messages(slack.dm_channel(person))
    ]


def test_a_burst_longer_than_a_dm_holds_pages_each_report_once_per_step(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """More sev1s than one grouped DM holds, filed at once by concurrent clients, nobody
    acknowledging: at every tier each report is listed on exactly one of the person's page DMs
    (the primary's spill into a second DM) and gets one thread mention; every step is claimed
    once."""
    bot, user = start_bot(escalating_program())
    burst = GROUP_CAPACITY + 5
    file_burst(user, slack, burst, "Checkout down")
    # Three tiers claimed for every report, then the outbox drained: every page has gone out.
    wait_until(lambda: len(claims(bot.engine, "escalation:")) == 3 * burst, timeout=60)
    wait_outbox_drained(bot.engine, timeout=60)
    items = {f"feedback:{n}" for n in range(1, burst + 1)}
    for person in (PRIMARY, SECONDARY, LEAD):
        dms = listed_items(slack, person)
        assert sum(len(listed) for listed in dms) == burst, person  # nobody listed twice
        assert set().union(*dms) == items, person
    assert len(listed_items(slack, PRIMARY)) >= 2  # a DM holds GROUP_CAPACITY pages at most
    for receipt in receipts(slack):
        texts = thread_texts(slack, receipt)
        for mention in (
            f"Paging <@{PRIMARY}> (primary on-call)",
            f"Paging <@{SECONDARY}> (secondary on-call)",
            f"Paging <@{LEAD}> (lead)",
        ):
            assert sum(mention in t for t in texts) == 1, (receipt["ts"], mention)
    assert len(receipts(slack)) == burst


def test_a_page_dm_posted_by_a_try_that_died_unrecorded_is_adopted_not_sent_again(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """A delivery posts the DM and dies before recording it (a replica killed): the next try
    finds the DM in Slack by its metadata and updates it; the person gets one DM."""
    bot, user = start_bot(escalating_program())
    file_sev1(user, slack)
    [page] = wait_until(lambda: pages_to(slack, PRIMARY))
    wait_outbox_drained(bot.engine)
    with bot.engine.begin() as conn:  # what a try killed after chat.postMessage leaves behind
        lost = list(
            conn.execute(
                text(
                    "UPDATE page_group SET ts = NULL, channel_id = NULL"
                    " WHERE user_id = :u RETURNING id"
                ),
                {"u": PRIMARY},
            ).scalars()
        )
        assert len(lost) == 1
    [group] = lost
    sender_repo = EscalationRepository(db.make_sessions(bot.engine))
    sender_repo.change_group(group, dt.datetime.now(dt.UTC), deliver_effect)
    bot.worker.wake.set()
    wait_until(
        lambda: any(c.args.get("ts") == page.response["ts"] for c in slack.calls_to("chat.update"))
    )
    wait_outbox_drained(bot.engine)
    assert len(pages_to(slack, PRIMARY)) == 1
    adopted = sender_repo.group(group)
    assert adopted is not None and adopted.ts == page.response["ts"]


def test_a_step_whose_thread_mention_fails_is_retried_without_a_second_dm(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """Slack fails the secondary's thread mention once: the retry mentions them once and does
    not page them again (the step is one outbox row; its page is recorded before the mention)."""
    bot, user = start_bot(escalating_program())
    _, receipt = file_sev1(user, slack)
    wait_until(lambda: pages_to(slack, PRIMARY))
    wait_until(lambda: any("(primary on-call)" in t for t in thread_texts(slack, receipt)))
    slack.fail_next("chat.postMessage", status=503, channel="C0FEEDBACK")
    wait_until(lambda: pages_to(slack, SECONDARY), timeout=10)
    wait_until(
        lambda: any("(secondary on-call)" in t for t in thread_texts(slack, receipt)), timeout=20
    )
    failed = [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.status == 503 and c.args.get("channel") == "C0FEEDBACK"
    ]
    assert len(failed) == 1 and "(secondary on-call)" in str(failed[0].args.get("text"))
    wait_outbox_drained(bot.engine)
    assert len(pages_to(slack, SECONDARY)) == 1
    mentions = [t for t in thread_texts(slack, receipt) if "(secondary on-call)" in t]
    assert len(mentions) == 1


def test_only_paged_people_on_call_or_leads_may_acknowledge(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """A bystander pressing Acknowledge on the receipt is told who may; the climb goes on."""
    _, user = start_bot(escalating_program())
    _, receipt = file_sev1(user, slack)
    user.click_button(
        action_id="ack-item",
        value="feedback:1",
        message_ts=receipt["ts"],
        channel_id="C0FEEDBACK",
        user_id="U0BYSTANDER",
    )
    [refusal] = wait_until(lambda: slack.ephemerals(user="U0BYSTANDER"))
    assert "Only the people paged" in refusal["text"]
    wait_until(lambda: pages_to(slack, SECONDARY), timeout=10)


def test_a_person_missing_from_slack_is_skipped_at_once_and_reported(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """The primary's e-mail has no Slack user: the admins hear of it and the secondary is paged
    right away, without the wait meant for the primary."""
    _, user = start_bot(escalating_program(primary="gone@example.com"))
    filed, _ = file_sev1(user, slack)
    [secondary] = wait_until(lambda: pages_to(slack, SECONDARY), timeout=10)
    assert secondary.at - filed < WAIT - 0.3
    report = wait_until(
        lambda: [
            c.args["text"]
            for c in slack.calls_to("chat.postMessage")
            if c.args.get("channel") == ADMIN and "could not page" in str(c.args.get("text"))
        ]
    )
    assert "gone@example.com" in report[0] and "no active Slack user" in report[0]


def test_a_deactivated_primary_is_reported_and_skipped(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """Slack refuses the DM to a deactivated user: reported, and the next tier comes at once."""
    slack.add_user(PRIMARY, "Former colleague", deleted=True)
    _, user = start_bot(escalating_program())
    filed, _ = file_sev1(user, slack)
    [secondary] = wait_until(lambda: pages_to(slack, SECONDARY), timeout=10)
    assert secondary.at - filed < WAIT - 0.3
    wait_until(
        lambda: any(
            c.args.get("channel") == ADMIN and "user_disabled" in str(c.args.get("text"))
            for c in slack.calls_to("chat.postMessage")
        )
    )


def test_a_lead_re_escalates_an_acknowledged_item(start_bot: Start, slack: SlackEmulator) -> None:
    """After an acknowledgement, `/hypercare escalate HC-1` by a lead pages the primary again."""
    _, user = start_bot(escalating_program())
    _, receipt = file_sev1(user, slack)
    [page] = wait_until(lambda: pages_to(slack, PRIMARY))
    user.click_button(
        action_id="ack-item",
        value="feedback:1",
        message_ts=receipt["ts"],
        channel_id="C0FEEDBACK",
        user_id=LEAD,
    )
    wait_until(lambda: "Acknowledged by" in json.dumps(slack.message("C0FEEDBACK", receipt["ts"])))
    refused = user.slash_command("escalate HC-1", user_id="U0BYSTANDER").json()
    assert "Only hypercare leads" in refused["text"]
    answer = user.slash_command("escalate HC-1", user_id=LEAD).json()
    assert "restarted" in answer["text"]
    wait_until(lambda: len(pages_to(slack, PRIMARY)) == 2)
    wait_until(lambda: "ack-item" in json.dumps(slack.message("C0FEEDBACK", receipt["ts"])))
    assert page.args["channel"] == PRIMARY


def test_an_admin_override_puts_someone_else_on_call(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """`/hypercare override` by an admin changes who is paged and is announced; others may not."""
    _, user = start_bot(escalating_program())
    refused = user.slash_command("override <@U0COVER|cover> until 23:59", user_id=LEAD).json()
    assert "Only hypercare admins" in refused["text"]
    answer = user.slash_command("override <@U0COVER|cover> for 2h", user_id=ADMIN).json()
    assert "<@U0COVER> is on call on *first*" in answer["text"]
    wait_until(
        lambda: any(
            "<@U0PRIM> → <@U0COVER>" in str(c.args.get("text"))
            for c in slack.calls_to("chat.postMessage")
        )
    )
    file_sev1(user, slack)
    wait_until(lambda: pages_to(slack, "U0COVER"))
    assert pages_to(slack, PRIMARY) == []


def test_a_rate_limited_channel_holds_back_the_rest_of_a_burst_of_thread_mentions(
    start_bot: Start, slack: SlackEmulator
) -> None:
    """A burst's thread mentions go out a few at a time. When Slack rate-limits the channel,
    the mentions not yet sent wait for its Retry-After instead of each hitting the limit, and
    every report still gets its one mention per tier."""
    bot, user = start_bot(escalating_program())
    burst = 30
    file_burst(user, slack, burst, "Refunds failing")
    wait_until(lambda: len(claims(bot.engine, "escalation:")) == burst, timeout=30)
    wait_outbox_drained(bot.engine, timeout=30)
    # The channel answers 429 (retry after 1 s) to the secondary tier's first mentions, more
    # than the Slack client's own single retry absorbs.
    times = 3 * MENTION_CONCURRENCY
    slack.fail_next(
        "chat.postMessage", status=429, retry_after=1, times=times, channel="C0FEEDBACK"
    )
    wait_until(lambda: len(claims(bot.engine, "escalation:")) == 2 * burst, timeout=30)
    wait_outbox_drained(bot.engine, timeout=60)
    limited = [
        c.at
        for c in slack.calls_to("chat.postMessage")
        if c.status == 429 and c.args.get("channel") == "C0FEEDBACK"
    ]
    assert len(limited) == times
    secondary = [
        c.at
        for c in slack.calls_to("chat.postMessage")
        if c.status == 200 and "(secondary on-call)" in str(c.args.get("text"))
    ]
    assert len(secondary) == burst
    # Once a mention gave up on the limit, the others waited for the Retry-After: only those
    # already in flight went out before it ran out (the few sent at once, their client-side
    # retries, and a few that passed the check while another thread was giving up). Without
    # the hold-back most of the burst goes out in that second.
    early = [at for at in secondary if max(limited) < at < max(limited) + 0.9]
    assert len(early) <= 3 * MENTION_CONCURRENCY, (len(early), sorted(secondary))
    for receipt in receipts(slack):
        texts = thread_texts(slack, receipt)
        assert sum(f"Paging <@{SECONDARY}> (secondary on-call)" in t for t in texts) == 1
