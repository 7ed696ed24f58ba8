"""Burst: N sev1 reports filed within a few seconds, nobody acknowledges: when each is paged.

The script starts `python -m bot serve` (HTTP mode; a temporary SQLite file, or a schema of its
own in the PostgreSQL of `--database-url`) against the Slack emulator, with a sev1 policy of
`notify_primary, wait 20s, notify_secondary`, one person on each rota and page grouping on at
its default window. First one sev1 is filed alone (the baseline, in the same run), then N
signed view submissions are sent within `--within` seconds from a pool of concurrent clients,
as Slack sends them. For each report it times filing (the request sent) → the first page DM to
the primary that lists it (a post, or an update of a grouped DM; a DM naming several reports
counts for each), and the secondary step's due time (as the bot stored it) → the first page DM
to the secondary that lists it. It checks that every report was paged exactly once per step,
to the right person, with one thread mention per step, and that none was lost. With
`--replicas 2` (PostgreSQL; without `--database-url` a throwaway server is started) it runs the
same burst on one and on two `serve` processes sharing the database, requests alternated
between them, and compares them. Run:

    .venv/bin/python benchmarks/burst.py [--reports 150] [--within 3] [--clients 20]
        [--wait 20] [--replicas 1|2] [--slack-latency 0.1] [--database-url URL] [--json FILE]

`--slack-latency` has the emulator answer each of the bot's Slack calls that long after it
came, as Slack does across the internet (loopback answers in a millisecond).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from bot.reports.digest import DAILY_JOB
from sandbox.demo.programs import two_tier_escalation
from sandbox.demo.samples import feedback_form
from sandbox.slack import RecordedCall, SlackEmulator, SlackUserSimulator
from storage.models import EscalationRow, FeedbackRow, JobRunRow, OutboxRow

from _harness import (
    FEEDBACK,
    HOST,
    REPORTER,
    SIGNING_SECRET,
    CellDatabases,
    add_output_options,
    finite,
    free_port,
    machine,
    machine_line,
    parser,
    percentile,
    positive_int,
    serve,
    served_program,
    slack_emulator,
    throwaway_postgres,
    wait_healthy,
    write_json,
)

PRIMARY, SECONDARY = "U0PRIM", "U0SECOND"
DIGEST = "C0DIGEST"
SEVERITY = "sev1"
DIGEST_CHECK_S = "5"  # the digest falls due at start; the first check may precede the lead
SETTLE_S = 60.0  # how long past the last due time the script waits for the pages, at least
DRAIN_TIMEOUT_S = 60.0
REPLICA_NAMES = "ab"
_ITEM_IN_BUTTON = re.compile(r'"value": "feedback:(\d+)"')
_LEADER_LOCK_ID = 0x48435F4C  # storage/leader.py


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    reports: int
    within: float
    clients: int
    wait_s: float
    replicas: int
    database_url: str | None
    json_path: Path | None
    slack_latency_s: float = 0.0


# Slack's Web API methods the bot calls in a burst, each answered after --slack-latency.
SLACK_METHODS = (
    "chat.postMessage",
    "chat.update",
    "chat.getPermalink",
    "chat.postEphemeral",
    "conversations.open",
    "views.open",
    "views.update",
)

# -- the program and the bot -------------------------------------------------------------------


def program_file(folder: Path, wait_s: float) -> Path:
    """The example program with the two-step sev1 policy, and a daily digest due already.

    The digest's time is a minute ago (every day, within its grace), so the bot posts it once,
    late, when it starts: with two replicas the check that no digest is doubled has one to
    count. The weekly review is off (its charts would take a CPU for seconds at a random time).
    """
    raw = served_program()
    raw["channels"]["digest"] = DIGEST
    raw.update(
        two_tier_escalation(
            PRIMARY,
            SECONDARY,
            wait_s=wait_s,
            severity=SEVERITY,
            ack_within="1h",
            resolve_within="4h",
            notify_leads=False,
        )
    )
    local = dt.datetime.now(ZoneInfo(raw["timezone"])) - dt.timedelta(minutes=1)
    raw["reports"]["daily"] = {**raw["reports"]["daily"], "at": f"{local:%H:%M}", "days": "MON-SUN"}
    raw["reports"]["weekly"] = {**raw["reports"]["weekly"], "enabled": False}
    path = folder / "hypercare.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@contextlib.contextmanager
def emulator(latency_s: float = 0.0) -> Iterator[SlackEmulator]:
    """A fresh Slack emulator per cell, with the feedback and digest channels and the people;
    every call the bot makes in a burst answered after `latency_s` (Slack's round trip from a
    real deployment, which loopback hides)."""
    with slack_emulator(
        channels={FEEDBACK: "hypercare-feedback", DIGEST: "hypercare-digest"},
        users={PRIMARY: "primary", SECONDARY: "secondary", REPORTER: "alice"},
    ) as slack:
        for method in SLACK_METHODS if latency_s > 0 else ():
            slack.set_latency(method, latency_s)
        yield slack


@dataclass
class Replica:
    """One `serve` process."""

    name: str
    port: int
    log: Path
    process: Any  # subprocess.Popen[str]

    @property
    def url(self) -> str:
        """Its Slack request URL."""
        return f"http://{HOST}:{self.port}/slack/events"


@contextlib.contextmanager
def replicas(
    slack: SlackEmulator, database_url: str, program: Path, folder: Path, count: int
) -> Iterator[list[Replica]]:
    """`count` serve processes on one database, started one after the other (the first
    migrates it), stopped with SIGTERM at the end."""
    started: list[Replica] = []
    try:
        for name in REPLICA_NAMES[:count]:
            url = database_url
            if make_url(url).get_backend_name() == "postgresql":
                named = make_url(url).update_query_dict({"application_name": f"burst-{name}"})
                url = named.render_as_string(hide_password=False)
            port, log = free_port(), folder / f"replica-{name}.log"
            process = serve(slack, url, program, port, log=log, DIGEST_CHECK_SECONDS=DIGEST_CHECK_S)
            started.append(Replica(name, port, log, process))
            wait_healthy(port, process)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.terminate()
        for replica in started:
            replica.process.wait(timeout=60)


def log_errors(replica: Replica) -> list[str]:
    """The ERROR and CRITICAL lines and tracebacks a replica logged."""
    lines = replica.log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [
        line
        for line in lines
        if line.startswith(("ERROR", "CRITICAL", "Traceback")) or " ERROR " in line
    ]


def scheduler_lead(engine: Engine) -> str | None:
    """The application name of the PostgreSQL connection holding the scheduler's lock."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :id AND l.granted"
            ),
            {"id": _LEADER_LOCK_ID},
        ).scalar()


# -- filing reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One submission: where it went, when it was sent, how long the ack took, and its answer."""

    view_id: str
    replica: int
    sent_at: float  # epoch seconds, just before the request
    ack_ms: float
    status: int  # the HTTP status, or 0 when the request failed


def open_view(replica: Replica, slack: SlackEmulator) -> dict[str, Any]:
    """Run `/hypercare` once and return the feedback modal the bot opened."""
    with SlackUserSimulator(replica.url, SIGNING_SECRET, emulator=slack) as user:
        user.slash_command(user_id=REPORTER, channel_id=FEEDBACK)
    view: dict[str, Any] = slack.wait_for("views.open")[-1].response["view"]
    return view


def submit(user: SlackUserSimulator, view: dict[str, Any], view_id: str, replica: int) -> Sent:
    """Submit a sev1 report on a copy of the modal with its own view id (Slack's dedup key)."""
    values = feedback_form(
        FEEDBACK, severity=SEVERITY, summary=f"Checkout returns 504 for card payments {view_id}"
    )
    sent_at = time.time()
    start = time.perf_counter()
    try:
        status = user.submit_view({**view, "id": view_id}, values, user_id=REPORTER).status_code
    except Exception:  # a timeout or a dropped connection: the report counts as not filed
        status = 0
    return Sent(view_id, replica, sent_at, (time.perf_counter() - start) * 1000, status)


def burst(
    targets: list[Replica], view: dict[str, Any], reports: int, within: float, clients: int
) -> list[Sent]:
    """Send the reports paced evenly over `within` seconds (0: as fast as the clients go),
    round-robin over the replicas, from `clients` concurrent clients; a report waits for a
    free client when all are busy, and its filing time is when it was actually sent."""
    gap = within / reports
    lock = threading.Lock()
    sent: list[Sent] = []
    next_index = iter(range(reports))
    # Each client's HTTP clients are made before the clock starts: making one takes a while.
    pool = [
        [SlackUserSimulator(t.url, SIGNING_SECRET) for t in targets]
        for _ in range(min(clients, reports))
    ]
    start = time.time() + 0.2

    def client(users: list[SlackUserSimulator]) -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            delay = start + index * gap - time.time()
            if delay > 0:
                time.sleep(delay)
            replica = index % len(targets)
            result = submit(users[replica], view, f"VBURST{index:05d}", replica)
            with lock:
                sent.append(result)

    threads = [threading.Thread(target=client, args=(users,)) for users in pool]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for user in (user for users in pool for user in users):
            user.close()
    return sorted(sent, key=lambda s: s.sent_at)


# -- what the emulator recorded ----------------------------------------------------------------


def page_dms(calls: Sequence[RecordedCall]) -> dict[str, dict[int, list[tuple[str, float]]]]:
    """Per person, the page DMs that list each report: (the DM's ts, when) for every post or
    update that listed it, by the feedback id on its Acknowledge button.

    Pages to one person in a short window share one DM updated in place, so a report first
    reaches someone in a `chat.postMessage` or in a `chat.update` of that DM; a DM that names
    several reports counts as a page for each.
    """
    person_of: dict[str, str] = {}  # DM channel → person
    found: dict[str, dict[int, list[tuple[str, float]]]] = {}
    for call in sorted(calls, key=lambda c: c.at):
        if call.response.get("ok") is not True:
            continue
        channel = str(call.args.get("channel"))
        if call.method == "chat.postMessage" and channel.startswith("U"):
            person_of[str(call.response.get("channel"))] = channel
            person, ts = channel, str(call.response.get("ts"))
        elif call.method == "chat.update" and channel in person_of:
            person, ts = person_of[channel], str(call.args.get("ts"))
        else:
            continue
        for match in _ITEM_IN_BUTTON.finditer(json.dumps(call.args.get("blocks"))):
            found.setdefault(person, {}).setdefault(int(match.group(1)), []).append((ts, call.at))
    return found


def is_mention(call: RecordedCall, person: str) -> bool:
    """Whether the call is a thread mention paging `person` in the feedback channel."""
    return (
        call.method == "chat.postMessage"
        and call.args.get("channel") == FEEDBACK
        and bool(call.args.get("thread_ts"))
        and f"<@{person}>" in str(call.args.get("text"))
    )


def mention_count(slack: SlackEmulator, person: str) -> int:
    """How many thread mentions of `person` the emulator accepted so far (no JSON parsing)."""
    return sum(
        1
        for c in slack.calls_to("chat.postMessage")
        if c.response.get("ok") is True and is_mention(c, person)
    )


def mentioned(slack: SlackEmulator, person: str, count: int) -> bool:
    """Whether `count` thread mentions of `person` arrived."""
    return mention_count(slack, person) >= count


def wait_for(check: Callable[[], bool], deadline: float, every: float = 0.2) -> bool:
    """Poll until `check` holds or the deadline (epoch seconds) passes; whether it held."""
    while not check():
        if time.time() > deadline:
            return False
        time.sleep(every)
    return True


def first_dm(slack: SlackEmulator, person: str, deadline: float) -> float | None:
    """When the first page DM to `person` listing any report arrived (for the lone report)."""
    arrived: list[float] = []

    def seen() -> bool:
        calls = slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
        listed = page_dms(calls).get(person, {})
        arrived[:] = [at for found in listed.values() for _, at in found]
        return bool(arrived)

    return min(arrived) if wait_for(seen, deadline) else None


# -- what the database holds -------------------------------------------------------------------


def utc(value: dt.datetime) -> float:
    """Epoch seconds of a stored time (naive ones are UTC)."""
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()


@dataclass
class Stored:
    """What the bot stored: reports by view id, escalation starts, claims and the outbox."""

    feedback: dict[str, tuple[int, float, str | None]]  # view id → (id, created, receipt ts)
    started: dict[int, float]  # feedback id → its escalation's start
    step_claims: int
    digest_claims: int
    outbox_left: Counter[str]  # (status kind) of rows not done


def read_stored(engine: Engine) -> Stored:
    """Read the rows the checks need."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(FeedbackRow.id, FeedbackRow.submission_key, FeedbackRow.created_at)
            .add_columns(FeedbackRow.receipt_ts)
            .where(FeedbackRow.submission_key.startswith("view:"))
        ).all()
        feedback = {
            str(key).removeprefix("view:"): (int(fid), utc(created), receipt)
            for fid, key, created, receipt in rows
        }
        started = {
            int(item): utc(at)
            for item, at in conn.execute(
                select(EscalationRow.item_id, EscalationRow.started_at).where(
                    EscalationRow.item_kind == "feedback"
                )
            )
        }
        steps = conn.execute(
            select(func.count())
            .select_from(JobRunRow)
            .where(JobRunRow.job.startswith("escalation:"))
        ).scalar_one()
        digests = conn.execute(
            select(func.count()).select_from(JobRunRow).where(JobRunRow.job == DAILY_JOB)
        ).scalar_one()
        left = Counter(
            f"{status} {kind}"
            for status, kind in conn.execute(
                select(OutboxRow.status, OutboxRow.kind).where(OutboxRow.status != "done")
            )
        )
    return Stored(feedback, started, int(steps), int(digests), left)


def outbox_settled(engine: Engine, steps: int) -> bool:
    """Every step claimed and no outbox row pending: nothing more will be sent."""
    with engine.connect() as conn:
        claimed = conn.execute(
            select(func.count())
            .select_from(JobRunRow)
            .where(JobRunRow.job.startswith("escalation:"))
        ).scalar_one()
        pending = conn.execute(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.status == "pending")
        ).scalar_one()
    return int(claimed) >= steps and int(pending) == 0


# -- one cell ----------------------------------------------------------------------------------


@dataclass
class Cell:
    """One run: the lone report, the burst, and what the checks found."""

    replicas: int
    reports: int
    alone_first_s: float = math.nan  # the lone report: filing → primary DM
    alone_second_s: float = math.nan  # its stored due → secondary DM
    acks_ms: dict[str, list[float]] = field(default_factory=dict)  # per replica
    req_per_s: float = math.nan
    send_span_s: float = math.nan
    first_s: list[float] = field(default_factory=list)  # filing → primary DM
    second_s: list[float] = field(default_factory=list)  # stored due → secondary DM
    second_from_filing_s: list[float] = field(default_factory=list)  # filing + wait → DM
    filing_to_stored_s: list[float] = field(default_factory=list)  # request sent → row's time
    dm_calls: Counter[str] = field(default_factory=Counter)
    mentions: Counter[str] = field(default_factory=Counter)
    digests: int = 0
    doubles: int = 0
    lead: str | None = None
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The figures, for --json."""
        return {
            "replicas": self.replicas,
            "reports": self.reports,
            "alone_first_page_s": finite(self.alone_first_s, 4),
            "alone_second_page_s": finite(self.alone_second_s, 4),
            "acks_ms": {name: quantiles(ms) for name, ms in self.acks_ms.items()},
            "req_per_s": finite(self.req_per_s, 1),
            "send_span_s": finite(self.send_span_s, 3),
            "first_page_s": quantiles(self.first_s),
            "second_page_after_due_s": quantiles(self.second_s),
            "second_page_after_filing_plus_wait_s": quantiles(self.second_from_filing_s),
            "filing_to_stored_s": quantiles(self.filing_to_stored_s),
            "page_dm_calls": dict(self.dm_calls),
            "thread_mentions": dict(self.mentions),
            "digests_posted": self.digests,
            "doubles": self.doubles,
            "scheduler_lead": self.lead,
            "problems": self.problems,
        }


def run_cell(options: Options, database_url: str, count: int) -> Cell:
    """Start `count` replicas, file one report alone, then the burst; collect and check."""
    cell = Cell(count, options.reports)
    total = options.reports + 1
    engine = create_engine(database_url)
    with (
        tempfile.TemporaryDirectory(prefix="hc-burst-") as tmp,
        emulator(options.slack_latency_s) as slack,
    ):
        folder = Path(tmp)
        program = program_file(folder, options.wait_s)
        with replicas(slack, database_url, program, folder, count) as running:
            if not wait_for(lambda: bool(top_level(slack, DIGEST)), time.time() + 30):
                cell.problems.append("the daily digest was not posted within 30 s of the start")
            view = open_view(running[0], slack)
            # The baseline: one report alone, on an idle bot.
            with SlackUserSimulator(running[0].url, SIGNING_SECRET) as user:
                alone = submit(user, view, "VALONE", 0)
            # Its second page before the burst, so that it is timed alone too.
            for person, by in ((PRIMARY, 0.0), (SECONDARY, options.wait_s)):
                if first_dm(slack, person, alone.sent_at + by + 30) is None:
                    cell.problems.append(f"the lone report's page to {person} never came")
            # The burst.
            sent = burst(running, view, options.reports, options.within, options.clients)
            last = max(s.sent_at for s in sent)
            deadline = last + options.wait_s + SETTLE_S + options.reports / 10
            for person in (PRIMARY, SECONDARY):
                if not wait_for(partial(mentioned, slack, person, total), deadline, 0.5):
                    cell.problems.append(f"not every report's mention of {person} arrived in time")
            if not wait_for(
                lambda: outbox_settled(engine, 2 * total), time.time() + DRAIN_TIMEOUT_S, 0.5
            ):
                cell.problems.append("the outbox had pending rows when the cell ended")
            if count > 1:
                cell.lead = scheduler_lead(engine)
            stored = read_stored(engine)
        for replica in running:
            errors = log_errors(replica)
            if errors:
                cell.problems.append(
                    f"replica {replica.name} logged {len(errors)} error lines, e.g. {errors[0]}"
                )
        calls = slack.calls
    engine.dispose()
    collect(cell, options, [alone, *sent], calls, stored, digests_posted(calls))
    return cell


def top_level(slack: SlackEmulator, channel: str) -> list[RecordedCall]:
    """Messages posted to a channel, not in a thread."""
    return [c for c in slack.calls_to("chat.postMessage") if posted_to(c, channel)]


def posted_to(call: RecordedCall, channel: str = DIGEST) -> bool:
    """Whether the call posted a message to `channel`, not in a thread."""
    return (
        call.method == "chat.postMessage"
        and call.response.get("ok") is True
        and call.args.get("channel") == channel
        and not call.args.get("thread_ts")
    )


def digests_posted(calls: Sequence[RecordedCall]) -> int:
    """How many digests were posted."""
    return sum(posted_to(c) for c in calls)


def collect(
    cell: Cell,
    options: Options,
    sent: list[Sent],
    calls: list[RecordedCall],
    stored: Stored,
    digests: int,
) -> None:
    """Turn the submissions, recorded calls and stored rows into lags, and check them."""
    problems = cell.problems
    burst_sent = [s for s in sent if s.view_id.startswith("VBURST")]
    for index in range(cell.replicas):
        acks = [s.ack_ms for s in burst_sent if s.replica == index]
        cell.acks_ms[REPLICA_NAMES[index]] = acks
    failed = [s for s in sent if s.status != 200]
    if failed:
        problems.append(f"{len(failed)} submissions not acked with 200 (e.g. {failed[0]})")
    first_send = min(s.sent_at for s in burst_sent)
    last_ack = max(s.sent_at + s.ack_ms / 1000 for s in burst_sent)
    cell.send_span_s = max(s.sent_at for s in burst_sent) - first_send
    cell.req_per_s = len(burst_sent) / (last_ack - first_send)

    dms = page_dms(calls)
    person_of = {
        str(c.response.get("channel")): str(c.args.get("channel"))
        for c in calls
        if c.method == "chat.postMessage" and str(c.args.get("channel")).startswith("U")
    }
    for c in calls:
        if c.response.get("ok") is not True:
            continue
        if c.method == "chat.postMessage" and str(c.args.get("channel")).startswith("U"):
            cell.dm_calls[f"{c.args.get('channel')} posted"] += 1
        elif c.method == "chat.update" and str(c.args.get("channel")) in person_of:
            cell.dm_calls[f"{person_of[str(c.args.get('channel'))]} updated"] += 1
    strangers = sorted(set(dms) - {PRIMARY, SECONDARY})
    if strangers:
        problems.append(f"page DMs went to people outside the policy: {strangers}")
    by_receipt = {receipt: fid for fid, _, receipt in stored.feedback.values() if receipt}
    mentions: Counter[tuple[int, str]] = Counter()
    for call in calls:
        if call.response.get("ok") is not True:
            continue
        for person in (PRIMARY, SECONDARY):
            if is_mention(call, person):
                fid = by_receipt.get(str(call.args.get("thread_ts")))
                mentions[(fid if fid is not None else -1, person)] += 1
                cell.mentions[person] += 1
    refused = [c for c in calls if c.response.get("ok") is not True]
    if refused:
        problems.append(f"{len(refused)} Slack calls refused, e.g. {refused[0].method}")
    cell.digests = digests
    if digests != 1 or stored.digest_claims != 1:
        problems.append(f"{digests} daily digests posted, {stored.digest_claims} claimed (1 each)")
    cell.doubles += max(digests - 1, 0)

    missing_rows = [s.view_id for s in sent if s.view_id not in stored.feedback]
    if missing_rows:
        problems.append(f"{len(missing_rows)} reports not stored (lost), e.g. {missing_rows[0]}")
    if len(stored.feedback) != len(sent):
        problems.append(f"{len(stored.feedback)} feedback rows for {len(sent)} reports filed")
    no_receipt = [v for v, (_, _, receipt) in stored.feedback.items() if not receipt]
    if no_receipt:
        problems.append(f"{len(no_receipt)} reports have no receipt, e.g. {no_receipt[0]}")
    if stored.step_claims != 2 * len(sent):
        problems.append(f"{stored.step_claims} escalation steps claimed for {len(sent)} reports")
    if stored.outbox_left:
        problems.append(f"outbox rows not done: {dict(stored.outbox_left)}")

    missing: Counter[str] = Counter()
    doubled: Counter[str] = Counter()
    early = 0
    for s in sent:
        if s.view_id not in stored.feedback:
            continue
        fid, created, _ = stored.feedback[s.view_id]
        due = stored.started.get(fid, created) + options.wait_s
        for person in (PRIMARY, SECONDARY):
            listed = dms.get(person, {}).get(fid, [])
            if not listed:
                missing[f"page DM to {person}"] += 1
            elif len({ts for ts, _ in listed}) > 1:
                doubled[f"page DM to {person}"] += 1
            count = mentions[(fid, person)]
            if count == 0:
                missing[f"mention of {person}"] += 1
            elif count > 1:
                doubled[f"mention of {person}"] += count - 1
        primary = dms.get(PRIMARY, {}).get(fid)
        secondary = dms.get(SECONDARY, {}).get(fid)
        if s.view_id == "VALONE":
            if primary:
                cell.alone_first_s = min(at for _, at in primary) - s.sent_at
            if secondary:
                cell.alone_second_s = min(at for _, at in secondary) - due
            continue
        cell.filing_to_stored_s.append(created - s.sent_at)
        if primary:
            cell.first_s.append(min(at for _, at in primary) - s.sent_at)
        if secondary:
            arrived = min(at for _, at in secondary)
            cell.second_s.append(arrived - due)
            cell.second_from_filing_s.append(arrived - (s.sent_at + options.wait_s))
            early += arrived < due
    for what, n in sorted(missing.items()):
        problems.append(f"{n} reports missing from every {what}")
    for what, n in sorted(doubled.items()):
        problems.append(f"{n} reports doubled: more than one {what}")
    if mentions[(-1, PRIMARY)] or mentions[(-1, SECONDARY)]:
        problems.append("thread mentions in threads that are no report's receipt")
    if early:
        problems.append(f"{early} reports paged to the secondary before their due time")
    cell.doubles += sum(doubled.values())


# -- output ------------------------------------------------------------------------------------


def quantiles(values: Sequence[float]) -> dict[str, float | int | None]:
    """How many, and p50/p95/p99/max rounded, for --json (None for no values)."""
    return {
        "n": len(values),
        "p50": finite(percentile(values, 50), 4),
        "p95": finite(percentile(values, 95), 4),
        "p99": finite(percentile(values, 99), 4),
        "max": finite(max(values, default=math.nan), 4),
    }


def lag_table(cell: Cell, wait_s: float) -> str:
    """The lags of one cell, next to the lone report's."""
    head = f"{'':44}{'N':>5}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'max s':>8}"
    lines = [head, "-" * len(head)]

    def row(label: str, values: Sequence[float]) -> None:
        lines.append(
            f"{label:<44}{len(values):>5}{percentile(values, 50):>8.2f}"
            f"{percentile(values, 95):>8.2f}{percentile(values, 99):>8.2f}"
            f"{max(values, default=math.nan):>8.2f}"
        )

    alone = [] if math.isnan(cell.alone_first_s) else [cell.alone_first_s]
    row("alone: filing → first page (primary)", alone)
    row("burst: filing → first page (primary)", cell.first_s)
    alone = [] if math.isnan(cell.alone_second_s) else [cell.alone_second_s]
    row("alone: stored due → second page (secondary)", alone)
    row("burst: stored due → second page (secondary)", cell.second_s)
    row(f"burst: filing + {wait_s:g} s → second page", cell.second_from_filing_s)
    row("burst: filing → the report's stored time", cell.filing_to_stored_s)
    return "\n".join(lines)


def acks(cell: Cell) -> str:
    """Ack latency per replica, p50/p99 in ms."""
    return ", ".join(
        f"{name} {percentile(ms, 50):.0f}/{percentile(ms, 99):.0f}"
        for name, ms in cell.acks_ms.items()
    )


def compare_table(cells: list[Cell]) -> str:
    """One row per cell: acks, request rate, first and second pages, doubles."""
    head = (
        f"{'replicas':<9}{'acks p50/p99 ms':<24}{'req/s':>7}{'first p50 s':>13}"
        f"{'first p99 s':>13}{'second p99 s':>14}{'doubles':>9}"
    )
    lines = [head, "-" * len(head)]
    for c in cells:
        lines.append(
            f"{c.replicas:<9}{acks(c):<24}{c.req_per_s:>7.1f}{percentile(c.first_s, 50):>13.2f}"
            f"{percentile(c.first_s, 99):>13.2f}{percentile(c.second_s, 99):>14.2f}{c.doubles:>9}"
        )
    return "\n".join(lines)


def report(env: dict[str, Any], options: Options, cells: list[Cell]) -> None:
    """Print the machine line, a table per cell, the comparison and every problem."""
    print(
        f"Hypercare Bot burst: {options.reports} sev1 reports filed within {options.within:g} s,"
        " nobody acknowledges; `python -m bot serve`, 127.0.0.1"
    )
    print(
        f"{machine_line(env)} | database {env['database']} | {options.clients} clients"
        f" | policy {env['policy']}; pages grouped (the default window)"
        f" | Slack answers after {options.slack_latency_s * 1000:g} ms"
    )
    print(
        "A report is paged when a post or an update of the person's page DM first lists it;"
        "\nthe load generator, the Slack emulator and the bot share the machine."
    )
    for c in cells:
        print(
            f"\n{c.replicas} replica{'s' if c.replicas > 1 else ''}: acks p50/p99 ms {acks(c)};"
            f" {c.reports} sent in {c.send_span_s:.2f} s, {c.req_per_s:.1f} req/s to the last ack"
            + (f"; scheduler lead {c.lead}" if c.lead else "")
        )
        print(lag_table(c, options.wait_s))
        calls = ", ".join(f"{k} {v}" for k, v in sorted(c.dm_calls.items()))
        mentioned = ", ".join(f"{k} {v}" for k, v in sorted(c.mentions.items()))
        print(f"DM calls: {calls}; thread mentions: {mentioned}; digests posted {c.digests}")
    if len(cells) > 1:
        print()
        print(compare_table(cells))
    for c in cells:
        for problem in c.problems:
            print(f"WARNING: {c.replicas} replica(s): {problem}")


# -- entry point -------------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    cli = parser(__doc__)
    cli.add_argument("--reports", type=positive_int, default=150, help="reports in the burst")
    cli.add_argument(
        "--within",
        type=float,
        default=3.0,
        help="seconds to file them in; 0: as fast as the clients go (3)",
    )
    cli.add_argument("--clients", type=positive_int, default=20, help="concurrent clients (20)")
    cli.add_argument("--wait", type=float, default=20.0, help="the policy's wait, s (20)")
    cli.add_argument(
        "--replicas",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: also run two serve processes on one PostgreSQL and compare (1)",
    )
    cli.add_argument(
        "--slack-latency",
        type=float,
        default=0.0,
        help="seconds the Slack emulator holds every answer, as Slack's round trip does (0)",
    )
    add_output_options(
        cli, "SQLAlchemy URL (default: a temporary SQLite file; PostgreSQL: a schema per run)"
    )
    args = cli.parse_args(argv)
    if args.within < 0 or args.wait < 1 or not 0 <= args.slack_latency <= 5:
        cli.error("--within must be 0 or more, --wait at least 1, --slack-latency 0 to 5")
    url = args.database_url
    if args.replicas > 1 and url and make_url(url).get_backend_name() != "postgresql":
        cli.error("--replicas 2 needs PostgreSQL (SQLite means one replica)")
    return Options(
        args.reports,
        args.within,
        args.clients,
        args.wait,
        args.replicas,
        url,
        args.json_path,
        args.slack_latency,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the cells and print the tables."""
    options = parse_options(argv)
    with contextlib.ExitStack() as stack:
        given = options.database_url
        if given is None and options.replicas > 1:
            given = stack.enter_context(throwaway_postgres())
        urls = CellDatabases(given, stack)
        cells = [run_cell(options, urls.fresh(), count) for count in range(1, options.replicas + 1)]
        kind = urls.kind
    env = {
        **machine(),
        "database": kind,
        "policy": f"notify_primary, wait {options.wait_s:g}s, notify_secondary",
        "reports": options.reports,
        "within_s": options.within,
        "clients": options.clients,
        "slack_latency_s": options.slack_latency_s,
    }
    report(env, options, cells)
    if options.json_path is not None:
        write_json(options.json_path, {"environment": env, "cells": [c.summary() for c in cells]})


if __name__ == "__main__":
    main()
