"""Faults: a burst filed while Jira is down, the bot killed during the drain, a replica killed.

The script starts `python -m bot serve` (HTTP mode) against the Slack and Jira emulators and
checks that nothing is lost or doubled when things fail under load. Three cells:

- "jira down": the example program with its Jira section (sev1 and sev2 open a ticket on
  submit), paced at `--rate` Jira calls per second (100, the program file's cap); Jira answers
  503 (or, with `--outage refuse`, its port is closed) while N signed sev1/sev2 submissions
  are sent from `--clients` concurrent clients. Each must be acked 200 and stored. Then Jira
  comes back, and the drain time is Jira back → all N issues exist in Jira (and → every
  feedback row has its key and the outbox is empty). Exactly one issue per idempotency label.
- "jira down + 2 kills": the same, with the bot SIGKILLed when about 1/3 and 2/3 of the issues
  exist, restarted at once each time (`OUTBOX_LEASE_SECONDS` is short, so the dead process's
  leased rows come back within seconds).
- "two replicas, one killed" (PostgreSQL; without `--database-url` a throwaway server is
  started): two `serve` processes on one database, requests round-robin, a sev1 policy
  `notify_primary, wait W, notify_secondary`, sev1 tickets on submit, and a daily digest due
  at start-up. While `--replica-submissions` sev1 reports are filed, the replica holding the
  scheduler's lock is SIGKILLed halfway; the round-robin skips it after a failed request and
  that request is sent again to the survivor (as Slack retries). Every report must be stored
  once with one ticket, each step paged once (no report on two page DMs of one step), one
  thread mention per step, and the digest posted once.

The bot's escalation policy is left out of the first two cells (they are about tickets). Run:

    .venv/bin/python benchmarks/faults.py [--submissions 1000] [--replica-submissions 200]
        [--clients 20] [--rate 100] [--outage 503|refuse] [--cells jira,kills,replicas]
        [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import make_url

from sandbox.demo.samples import feedback_form
from sandbox.jira.api import JiraEmulator
from sandbox.slack import SlackEmulator, SlackUserSimulator
from storage.models import FeedbackRow, OutboxRow

from _harness import (
    EXAMPLE_PROGRAM,
    FEEDBACK,
    REPORTER,
    SIGNING_SECRET,
    CellDatabases,
    add_output_options,
    free_port,
    machine,
    machine_line,
    parser,
    positive_int,
    serve,
    throwaway_postgres,
    wait_healthy,
    write_json,
)
from burst import (
    PRIMARY,
    SECONDARY,
    Replica,
    digests_posted,
    emulator,
    is_mention,
    log_errors,
    mentioned,
    open_view,
    page_dms,
    program_file,
    read_stored,
    scheduler_lead,
    wait_for,
)

JIRA_EMAIL, JIRA_TOKEN = "bot@example.com", "faults-bench-token"  # the emulator's
LABEL_PREFIX = "hypercare-hc-"  # idempotency_label(): "hypercare-" + the short id, lower case
LEASE_S = "10"  # OUTBOX_LEASE_SECONDS: a killed process's rows come back after this
JIRA_READ_TIMEOUT_S = "5"  # under the lease: no call outlives its row's lease
DRAIN_TIMEOUT_S = 300.0
KILL_AT = (1 / 3, 2 / 3)  # fractions of the issues in Jira when the bot is killed
CELL_NAMES = {
    "jira": "jira down",
    "kills": "jira down + 2 kills",
    "replicas": "2 replicas, 1 killed",
}


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    submissions: int
    replica_submissions: int
    clients: int
    rate: float
    outage: str
    wait_s: float
    within: float
    cells: tuple[str, ...]
    database_url: str | None
    json_path: Path | None


@dataclass
class Result:
    """One cell: what was sent, stored and opened, the drain, the kills and the problems."""

    name: str
    n: int
    acks_ok: int = 0
    retried: int = 0  # requests sent again to another replica after a failed one
    stored: int = 0
    tickets: int = 0
    doubles: int = 0
    lost: int = 0
    send_s: float = 0.0
    first_s: float | None = None  # Jira back (or the last submission) → the first issue
    drain_s: float | None = None  # Jira back (or the last submission) → all N issues exist
    settle_s: float | None = None  # ... → every key recorded and the outbox empty
    kills: list[str] = field(default_factory=list)
    pages: Counter[str] = field(default_factory=Counter)
    digests: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The figures, for --json."""
        return {
            "cell": self.name,
            "submissions": self.n,
            "acks_ok": self.acks_ok,
            "retried_on_other_replica": self.retried,
            "stored": self.stored,
            "tickets": self.tickets,
            "doubles": self.doubles,
            "lost": self.lost,
            "send_s": round(self.send_s, 3),
            "first_issue_s": None if self.first_s is None else round(self.first_s, 3),
            "drain_s": None if self.drain_s is None else round(self.drain_s, 3),
            "settle_s": None if self.settle_s is None else round(self.settle_s, 3),
            "kills": self.kills,
            "pages": dict(self.pages),
            "digests_posted": self.digests,
            "problems": self.problems,
        }


# -- the program and the processes ------------------------------------------------------------


def with_jira(raw: dict[str, Any], rate: float, severities: Sequence[str]) -> dict[str, Any]:
    """A program with the example's Jira section paced at `rate`, tickets for `severities`."""
    example = yaml.safe_load(EXAMPLE_PROGRAM.read_text(encoding="utf-8"))
    raw["jira"] = {**example["jira"], "max_requests_per_second": rate}
    for severity in raw["severities"]:
        severity["auto_ticket"] = severity["id"] in severities
    return raw


def jira_program(folder: Path, rate: float) -> Path:
    """The example program, sev1/sev2 tickets on submit, no escalation, no digest, no weekly."""
    raw = yaml.safe_load(EXAMPLE_PROGRAM.read_text(encoding="utf-8"))
    raw = with_jira(raw, rate, ("sev1", "sev2"))
    raw.pop("escalation", None)
    raw["channels"].pop("digest", None)
    raw["reports"]["weekly"] = {**raw["reports"]["weekly"], "enabled": False}
    path = folder / "hypercare.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def replica_program(folder: Path, rate: float, wait_s: float) -> Path:
    """burst.py's program (two-step sev1 policy, a digest due at start) with sev1 tickets."""
    path = program_file(folder, wait_s)
    raw = with_jira(yaml.safe_load(path.read_text(encoding="utf-8")), rate, ("sev1",))
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def start(
    slack: SlackEmulator, jira: JiraEmulator, url: str, program: Path, log: Path, name: str
) -> Replica:
    """One `serve` process against both emulators, healthy; its log appended per start."""
    if make_url(url).get_backend_name() == "postgresql":
        named = make_url(url).update_query_dict({"application_name": f"faults-{name}"})
        url = named.render_as_string(hide_password=False)
    port = free_port()
    process = serve(
        slack,
        url,
        program,
        port,
        log=log,
        JIRA_URL=jira.url,
        JIRA_EMAIL=JIRA_EMAIL,
        JIRA_API_TOKEN=JIRA_TOKEN,
        JIRA_READ_TIMEOUT=JIRA_READ_TIMEOUT_S,
        OUTBOX_LEASE_SECONDS=LEASE_S,
        DIGEST_CHECK_SECONDS="5",
    )
    wait_healthy(port, process)
    return Replica(name, port, log, process)


def kill(replica: Replica) -> None:
    """SIGKILL the process and reap it."""
    replica.process.send_signal(signal.SIGKILL)
    replica.process.wait(timeout=30)


@contextlib.contextmanager
def stopping(running: list[Replica]) -> Iterator[list[Replica]]:
    """Stop the processes still alive at the end (SIGTERM)."""
    try:
        yield running
    finally:
        for replica in running:
            if replica.process.poll() is None:
                replica.process.terminate()
        for replica in running:
            with contextlib.suppress(Exception):
                replica.process.wait(timeout=60)


# -- filing reports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One report: its view id, the final HTTP status (0: no answer) and the tries it took."""

    view_id: str
    status: int
    tries: int


class RoundRobin:
    """Replicas taken in turn; one that failed a request is skipped from then on."""

    def __init__(self, targets: list[Replica]) -> None:
        self.targets = targets
        self.dead: set[int] = set()
        self._lock = threading.Lock()

    def pick(self, index: int) -> int | None:
        """The replica for request `index`, skipping dead ones; None when all are dead."""
        with self._lock:
            alive = [i for i in range(len(self.targets)) if i not in self.dead]
        return alive[index % len(alive)] if alive else None

    def failed(self, replica: int) -> None:
        """A request to `replica` got no answer: skip it from now on."""
        with self._lock:
            self.dead.add(replica)


def submit_once(user: SlackUserSimulator, view: dict[str, Any], view_id: str, sev: str) -> int:
    """Submit a report on a copy of the modal with its own view id; the status, 0 if none."""
    values = feedback_form(FEEDBACK, severity=sev, summary=f"Checkout returns 504 {view_id}")
    try:
        return user.submit_view({**view, "id": view_id}, values, user_id=REPORTER).status_code
    except Exception:  # a refused or dropped connection: Slack would retry
        return 0


def send(
    robin: RoundRobin,
    view: dict[str, Any],
    ids: list[str],
    severities: Sequence[str],
    clients: int,
    within: float = 0.0,
    on_sent: Callable[[int], None] | None = None,
) -> list[Sent]:
    """Send every report from `clients` concurrent clients, paced over `within` seconds (0: as
    fast as they go), round-robin; a request with no answer (or a 5xx) is sent again to the
    next live replica, up to three tries. `on_sent(count)` is called after each report."""
    lock = threading.Lock()
    sent: list[Sent] = []
    queue = iter(range(len(ids)))
    gap = within / len(ids)
    pool = [
        [SlackUserSimulator(t.url, SIGNING_SECRET) for t in robin.targets]
        for _ in range(min(clients, len(ids)))
    ]
    begin = time.time() + 0.2

    def client(users: list[SlackUserSimulator]) -> None:
        while True:
            with lock:
                index = next(queue, None)
            if index is None:
                return
            delay = begin + index * gap - time.time()
            if delay > 0:
                time.sleep(delay)
            status, tries = 0, 0
            while tries < 3:
                replica = robin.pick(index + tries)
                if replica is None:
                    break
                tries += 1
                status = submit_once(
                    users[replica], view, ids[index], severities[index % len(severities)]
                )
                if status == 200:
                    break
                if status == 0 or status >= 500:
                    robin.failed(replica)
            with lock:
                sent.append(Sent(ids[index], status, tries))
                count = len(sent)
            if on_sent is not None:
                on_sent(count)

    threads = [threading.Thread(target=client, args=(users,)) for users in pool]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for user in (u for users in pool for u in users):
            user.close()
    return sent


# -- what Jira and the database hold ----------------------------------------------------------


def labels(jira: JiraEmulator) -> Counter[str]:
    """Issues per idempotency label."""
    return Counter(
        label
        for issue in jira.issues()
        for label in issue["fields"]["labels"]
        if label.startswith(LABEL_PREFIX)
    )


def issues_at_least(jira: JiraEmulator, count: int) -> bool:
    """Whether `count` idempotency labels have an issue."""
    return len(labels(jira)) >= count


def keys_by_label(jira: JiraEmulator) -> dict[str, set[str]]:
    """The issue keys per idempotency label."""
    found: dict[str, set[str]] = {}
    for issue in jira.issues():
        for label in issue["fields"]["labels"]:
            if label.startswith(LABEL_PREFIX):
                found.setdefault(label, set()).add(issue["key"])
    return found


def stored_rows(engine: Engine) -> dict[str, tuple[int, str | None]]:
    """The stored reports by view id: (feedback id, ticket key)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(FeedbackRow.submission_key, FeedbackRow.id, FeedbackRow.ticket_key).where(
                FeedbackRow.submission_key.startswith("view:")
            )
        ).all()
    found: dict[str, tuple[int, str | None]] = {}
    for key, fid, ticket in rows:
        view_id = str(key).removeprefix("view:")
        if view_id in found:  # cannot happen while submission_key is unique
            found[f"{view_id}#{fid}"] = (int(fid), ticket)
        else:
            found[view_id] = (int(fid), ticket)
    return found


def outbox_left(engine: Engine) -> Counter[str]:
    """Outbox rows not done, by status and kind."""
    with engine.connect() as conn:
        return Counter(
            f"{status} {kind}"
            for status, kind in conn.execute(
                select(OutboxRow.status, OutboxRow.kind).where(OutboxRow.status != "done")
            )
        )


def keys_recorded(engine: Engine) -> int:
    """How many stored reports have their ticket key."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(FeedbackRow)
                .where(FeedbackRow.ticket_key.is_not(None))
            ).scalar_one()
        )


def check_tickets(result: Result, jira: JiraEmulator, engine: Engine, sent: list[Sent]) -> None:
    """Acks, stored rows, one issue per label, every key recorded, the outbox empty."""
    problems = result.problems
    result.acks_ok = sum(s.status == 200 for s in sent)
    result.retried = sum(s.tries - 1 for s in sent)
    if result.acks_ok != len(sent):
        bad = [s for s in sent if s.status != 200]
        problems.append(f"{len(bad)} submissions not acked 200 (e.g. {bad[0]})")
    stored = stored_rows(engine)
    result.stored = len(stored)
    missing = [s.view_id for s in sent if s.view_id not in stored]
    extra = len(stored) - (len(sent) - len(missing))
    if missing:
        problems.append(f"{len(missing)} reports not stored (lost), e.g. {missing[0]}")
    if extra:
        problems.append(f"{extra} feedback rows more than reports filed (doubled)")
    by_label = keys_by_label(jira)
    result.tickets = len(by_label)
    doubled = sum(len(keys) - 1 for keys in by_label.values())
    if doubled:
        problems.append(f"{doubled} extra issues: a label on more than one issue")
    ids = {fid: ticket for fid, ticket in stored.values()}
    strays = [label for label in by_label if int(label.removeprefix(LABEL_PREFIX)) not in ids]
    if strays:
        problems.append(f"{len(strays)} issues for no stored report, e.g. {strays[0]}")
    no_issue = [fid for fid in ids if f"{LABEL_PREFIX}{fid}" not in by_label]
    if no_issue:
        problems.append(f"{len(no_issue)} stored reports with no issue in Jira, e.g. {no_issue[0]}")
    wrong = [
        fid
        for fid, ticket in ids.items()
        if f"{LABEL_PREFIX}{fid}" in by_label and ticket not in by_label[f"{LABEL_PREFIX}{fid}"]
    ]
    if wrong:
        problems.append(f"{len(wrong)} feedback rows without their issue's key, e.g. {wrong[0]}")
    if left := outbox_left(engine):
        problems.append(f"outbox rows not done: {dict(left)}")
    result.lost = len(missing) + len(no_issue)
    result.doubles = max(extra, 0) + doubled


def check_logs(result: Result, logs: Sequence[Path]) -> None:
    """ERROR lines and tracebacks the processes logged."""
    for log in logs:
        errors = log_errors(Replica(log.stem, 0, log, None))
        if errors:
            result.problems.append(f"{log.name}: {len(errors)} error lines, e.g. {errors[0]}")


# -- the Jira cells ---------------------------------------------------------------------------


def jira_cell(options: Options, database_url: str, kills: int) -> Result:
    """File N reports while Jira is down, bring it back, drain; SIGKILL the bot `kills` times."""
    name = CELL_NAMES["kills" if kills else "jira"]
    result = Result(name, options.submissions)
    engine = create_engine(database_url)
    with (
        tempfile.TemporaryDirectory(prefix="hc-faults-") as tmp,
        emulator() as slack,
        JiraEmulator(email=JIRA_EMAIL, api_token=JIRA_TOKEN) as jira,
    ):
        folder = Path(tmp)
        program = jira_program(folder, options.rate)
        logs = [folder / "bot-0.log"]
        running = [start(slack, jira, database_url, program, logs[0], "0")]
        with stopping(running):
            view = open_view(running[0], slack)
            jira.go_down(refuse=options.outage == "refuse")
            ids = [f"VDOWN{i:05d}" for i in range(options.submissions)]
            began = time.perf_counter()
            sent = send(RoundRobin(running), view, ids, ("sev1", "sev2"), options.clients)
            result.send_s = time.perf_counter() - began
            if labels(jira):
                result.problems.append("issues were created while Jira was down")
            back = time.perf_counter()
            jira.come_back()
            watch = threading.Thread(target=first_issue, args=(result, jira, back), daemon=True)
            watch.start()
            for fraction in KILL_AT[:kills]:
                target = int(options.submissions * fraction)
                deadline = time.time() + DRAIN_TIMEOUT_S
                if not wait_for(partial(issues_at_least, jira, target), deadline, 0.1):
                    result.problems.append(f"{target} issues never existed; no kill")
                    break
                kill(running[-1])
                at = len(labels(jira))
                log = folder / f"bot-{len(logs)}.log"
                logs.append(log)
                running.append(start(slack, jira, database_url, program, log, str(len(logs))))
                result.kills.append(f"{at}@{time.perf_counter() - back:.1f}s")
            deadline = time.time() + DRAIN_TIMEOUT_S
            if wait_for(lambda: len(labels(jira)) >= len(ids), deadline, 0.1):
                result.drain_s = time.perf_counter() - back
            else:
                result.problems.append(f"not every issue existed {DRAIN_TIMEOUT_S:.0f} s after")
            if wait_for(lambda: settled(engine, len(ids)), time.time() + DRAIN_TIMEOUT_S, 0.2):
                result.settle_s = time.perf_counter() - back
            else:
                result.problems.append("keys or outbox rows left when the cell ended")
            check_tickets(result, jira, engine, sent)
        check_logs(result, logs)
    engine.dispose()
    return result


def first_issue(result: Result, jira: JiraEmulator, since: float) -> None:
    """Note when the first issue exists (the outbox's retry wait after Jira came back)."""
    if wait_for(partial(issues_at_least, jira, 1), time.time() + DRAIN_TIMEOUT_S, 0.05):
        result.first_s = time.perf_counter() - since


def settled(engine: Engine, count: int) -> bool:
    """Every report has its key and no outbox row is pending."""
    if keys_recorded(engine) < count:
        return False
    return not any(k.startswith("pending") for k in outbox_left(engine))


# -- the replica cell -------------------------------------------------------------------------


def replica_cell(options: Options, database_url: str) -> Result:
    """Two replicas on one PostgreSQL database; the scheduler's lead is killed mid-run."""
    n = options.replica_submissions
    result = Result(CELL_NAMES["replicas"], n)
    engine = create_engine(database_url)
    with (
        tempfile.TemporaryDirectory(prefix="hc-faults-") as tmp,
        emulator() as slack,
        JiraEmulator(email=JIRA_EMAIL, api_token=JIRA_TOKEN) as jira,
    ):
        folder = Path(tmp)
        program = replica_program(folder, options.rate, options.wait_s)
        running: list[Replica] = []
        with stopping(running):
            for name in "ab":
                running.append(
                    start(slack, jira, database_url, program, folder / f"{name}.log", name)
                )
            digest_seen = wait_for(lambda: digests_posted(slack.calls) > 0, time.time() + 30)
            if not digest_seen:
                result.problems.append("the daily digest was not posted within 30 s of the start")
            view = open_view(running[0], slack)
            lead = scheduler_lead(engine) or "faults-a"
            victim = next((r for r in running if f"faults-{r.name}" == lead), running[0])
            robin = RoundRobin(running)
            killed = threading.Event()

            def maybe_kill(count: int) -> None:
                if count >= n // 2 and not killed.is_set():
                    killed.set()
                    kill(victim)
                    result.kills.append(f"replica {victim.name} (lead) after {count} sent")

            ids = [f"VREPL{i:05d}" for i in range(n)]
            began = time.perf_counter()
            sent = send(robin, view, ids, ("sev1",), options.clients, options.within, maybe_kill)
            result.send_s = time.perf_counter() - began
            last = time.perf_counter()
            deadline = time.time() + options.wait_s + DRAIN_TIMEOUT_S
            for person in (PRIMARY, SECONDARY):
                if not wait_for(partial(mentioned, slack, person, n), deadline, 0.5):
                    result.problems.append(f"not every report's mention of {person} arrived")
            if wait_for(lambda: len(labels(jira)) >= n, time.time() + DRAIN_TIMEOUT_S, 0.2):
                result.drain_s = time.perf_counter() - last
            if wait_for(lambda: settled(engine, n), time.time() + DRAIN_TIMEOUT_S, 0.5):
                result.settle_s = time.perf_counter() - last
            else:
                result.problems.append("keys or outbox rows left when the cell ended")
            time.sleep(2 * float(LEASE_S))  # a doubled effect would come back after a lease
            check_tickets(result, jira, engine, sent)
            check_pages(result, slack, engine, sent)
        check_logs(result, [r.log for r in running if r is not victim])
    engine.dispose()
    return result


def check_pages(result: Result, slack: SlackEmulator, engine: Engine, sent: list[Sent]) -> None:
    """Each step paged once per report (one DM, one mention), the digest posted once."""
    problems = result.problems
    calls = slack.calls
    stored = read_stored(engine)
    dms = page_dms(calls)
    by_receipt = {receipt: fid for fid, _, receipt in stored.feedback.values() if receipt}
    per_step: Counter[tuple[int, str]] = Counter()
    for call in calls:
        if call.response.get("ok") is not True:
            continue
        for person in (PRIMARY, SECONDARY):
            if is_mention(call, person):
                per_step[(by_receipt.get(str(call.args.get("thread_ts")), -1), person)] += 1
    missing: Counter[str] = Counter()
    doubled: Counter[str] = Counter()
    for s in sent:
        if s.view_id not in stored.feedback:
            continue
        fid = stored.feedback[s.view_id][0]
        for person in (PRIMARY, SECONDARY):
            listed = dms.get(person, {}).get(fid, [])
            result.pages[f"DM {person}"] += bool(listed)
            if not listed:
                missing[f"page DM to {person}"] += 1
            elif len({ts for ts, _ in listed}) > 1:
                doubled[f"page DM to {person}"] += 1
            count = per_step[(fid, person)]
            result.pages[f"mention {person}"] += count
            if count == 0:
                missing[f"mention of {person}"] += 1
            elif count > 1:
                doubled[f"mention of {person}"] += count - 1
    for what, count in sorted(missing.items()):
        problems.append(f"{count} reports without a {what}")
    for what, count in sorted(doubled.items()):
        problems.append(f"{count} reports doubled: more than one {what}")
    if stored.step_claims != 2 * len(stored.feedback):
        problems.append(f"{stored.step_claims} steps claimed for {len(stored.feedback)} reports")
    result.digests = digests_posted(calls)
    if result.digests != 1 or stored.digest_claims != 1:
        problems.append(f"{result.digests} digests posted, {stored.digest_claims} claimed (1)")
    refused = [c for c in calls if c.response.get("ok") is not True]
    if refused:
        problems.append(f"{len(refused)} Slack calls refused, e.g. {refused[0].method}")
    result.doubles += sum(doubled.values()) + max(result.digests - 1, 0)
    result.lost += sum(missing.values())


# -- output -----------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    """A duration for the table, or '-' when it never happened."""
    return "-" if value is None else f"{value:.1f}"


def table(result: Result) -> str:
    """One cell's row under a header."""
    head = (
        f"{'N':>6}{'acks ok':>9}{'retried':>9}{'stored':>8}{'tickets':>9}{'doubles':>9}"
        f"{'lost':>6}{'send s':>8}{'1st s':>7}{'drain s':>9}{'settle s':>10}"
        "  kills (issues@s after Jira back)"
    )
    row = (
        f"{result.n:>6}{result.acks_ok:>9}{result.retried:>9}{result.stored:>8}"
        f"{result.tickets:>9}{result.doubles:>9}{result.lost:>6}{result.send_s:>8.1f}"
        f"{seconds(result.first_s):>7}{seconds(result.drain_s):>9}{seconds(result.settle_s):>10}  "
        + (", ".join(result.kills) or "-")
    )
    return "\n".join([head, "-" * len(head), row])


def report(env: dict[str, Any], options: Options, results: list[Result]) -> None:
    """Print the machine line, a table per cell and every problem."""
    print(
        "Hypercare Bot faults: reports filed while Jira is down, the bot killed during the"
        " drain, a replica killed mid-run; `python -m bot serve`, 127.0.0.1"
    )
    print(
        f"{machine_line(env)} | database {env['database']} | {options.clients} clients"
        f" | Jira paced at {options.rate:g} calls/s, outage: {options.outage}"
        f" | lease {LEASE_S} s"
    )
    print(
        "1st: Jira back → the first issue exists; drain: → every issue exists;"
        " settle: → every key recorded, outbox empty\n(replica cell: from the last submission)"
    )
    for result in results:
        print(f"\n{result.name}")
        print(table(result))
        if result.pages or result.digests:
            pages = ", ".join(f"{k} {v}" for k, v in sorted(result.pages.items()))
            print(f"reports paged: {pages}; digests posted {result.digests}")
    for result in results:
        for problem in result.problems:
            print(f"WARNING: {result.name}: {problem}")


# -- entry point ------------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    cli = parser(__doc__)
    cli.add_argument("--submissions", type=positive_int, default=1000, help="Jira cells (1000)")
    cli.add_argument(
        "--replica-submissions", type=positive_int, default=200, help="replica cell (200)"
    )
    cli.add_argument("--clients", type=positive_int, default=20, help="concurrent clients (20)")
    cli.add_argument("--rate", type=float, default=100.0, help="Jira calls/s the bot paces (100)")
    cli.add_argument("--outage", choices=("503", "refuse"), default="503", help="Jira down: (503)")
    cli.add_argument("--wait", type=float, default=10.0, help="the replica policy's wait, s (10)")
    cli.add_argument(
        "--within", type=float, default=10.0, help="seconds to file the replica cell in (10)"
    )
    cli.add_argument(
        "--cells",
        default="jira,kills,replicas",
        help="which cells, comma-separated: jira, kills, replicas (all)",
    )
    add_output_options(
        cli,
        "SQLAlchemy URL (default: temporary SQLite files; a throwaway PostgreSQL for the"
        " replica cell); on PostgreSQL each cell gets a schema of its own",
    )
    args = cli.parse_args(argv)
    cells = tuple(c.strip() for c in args.cells.split(",") if c.strip())
    if not cells or set(cells) - set(CELL_NAMES):
        cli.error(f"--cells takes {', '.join(CELL_NAMES)}")
    if not 0 < args.rate <= 100:
        cli.error("--rate must be above 0 and at most 100 (the program file's cap)")
    return Options(
        args.submissions,
        args.replica_submissions,
        args.clients,
        args.rate,
        args.outage,
        args.wait,
        args.within,
        cells,
        args.database_url,
        args.json_path,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the cells and print the tables."""
    options = parse_options(argv)
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        urls = CellDatabases(options.database_url, stack)
        kinds = [urls.kind]
        if "jira" in options.cells:
            results.append(jira_cell(options, urls.fresh(), kills=0))
        if "kills" in options.cells:
            results.append(jira_cell(options, urls.fresh(), kills=len(KILL_AT)))
        if "replicas" in options.cells:
            given = options.database_url
            if given is None or make_url(given).get_backend_name() != "postgresql":
                postgres = CellDatabases(stack.enter_context(throwaway_postgres()), stack)
                kinds.append(f"{postgres.kind} (throwaway server, replica cell)")
            else:
                postgres = urls
            results.append(replica_cell(options, postgres.fresh()))
    env = {
        **machine(),
        "database": ", ".join(kinds),
        "clients": options.clients,
        "jira_rate_per_s": options.rate,
        "outage": options.outage,
        "lease_s": float(LEASE_S),
        "replica_policy": f"notify_primary, wait {options.wait_s:g}s, notify_secondary",
    }
    report(env, options, results)
    if options.json_path is not None:
        write_json(options.json_path, {"environment": env, "cells": [r.summary() for r in results]})


if __name__ == "__main__":
    main()
