"""Domain types shared by every layer: frozen dataclasses and enums, no behaviour of note."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FeedbackState(StrEnum):
    """Where a piece of feedback is in its life."""

    NEW = "new"
    TICKETED = "ticketed"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class UsersAffected(StrEnum):
    """How many users a problem reaches: the impact half of severity × impact."""

    ONE = "one"
    TEAM = "team"
    DEPARTMENT = "department"
    MANY = "many"
    ALL = "all"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        """Human wording of the band."""
        return _USERS_AFFECTED_LABELS[self]


# How many people a band counts for in an item's reach (the sum over its reporters): the
# band's upper end, so a "team" report and a "department" +1 weigh as the words say. "Not sure"
# counts one person: the reporter.
_USERS_AFFECTED_REACH = {
    "one": 1,
    "team": 10,
    "department": 100,
    "many": 1000,
    "all": 1000,
    "unknown": 1,
}


def reach_of(users: UsersAffected | None) -> int:
    """The number of people a users-affected band counts for (1 when not given)."""
    return _USERS_AFFECTED_REACH[users.value] if users is not None else 1


_USERS_AFFECTED_LABELS = {
    UsersAffected.ONE: "Just me (1)",
    UsersAffected.TEAM: "A team (2–10)",
    UsersAffected.DEPARTMENT: "A department (11–100)",
    UsersAffected.MANY: "Many (100+)",
    UsersAffected.ALL: "Everyone",
    UsersAffected.UNKNOWN: "Not sure yet",
}


class Field(StrEnum):
    """The fields of a feedback form; validation problems are keyed by these."""

    SUMMARY = "summary"
    CATEGORY = "category"
    SEVERITY = "severity"
    COMPONENT = "component"
    ENVIRONMENT = "environment"
    TRYING = "trying"
    EXPECTED = "expected"
    ACTUAL = "actual"
    API_ENDPOINT = "api_endpoint"
    CORRELATION_ID = "correlation_id"
    USERS_AFFECTED = "users_affected"
    CHANNEL = "channel"


@dataclass(frozen=True)
class SourceMessage:
    """The Slack message a report was made from (message shortcut)."""

    channel_id: str
    ts: str
    author_id: str | None
    text: str
    permalink: str | None = None


@dataclass(frozen=True)
class FeedbackDraft:
    """What a reporter submitted, before it is stored."""

    summary: str
    category: str
    severity: str
    component: str
    environment: str
    trying: str
    expected: str
    actual: str
    api_endpoint: str | None
    correlation_id: str | None
    users_affected: UsersAffected | None
    channel_id: str
    reporter_id: str
    submission_key: str
    source: SourceMessage | None = None
    known_match_id: int | None = None  # a known issue the form showed; the receipt links it


@dataclass(frozen=True)
class FeedbackHead:
    """What an escalation needs of a feedback: its title, severity, thread and whether it is
    over (a burst's pages read two hundred at a time; the whole report is not needed)."""

    id: int
    short_id: str
    summary: str
    severity: str
    state: FeedbackState
    channel_id: str
    created_at: dt.datetime
    receipt_ts: str | None
    receipt_permalink: str | None
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class Feedback:
    """A stored piece of feedback."""

    id: int
    short_id: str
    summary: str
    category: str
    severity: str
    component: str
    environment: str
    trying: str
    expected: str
    actual: str
    api_endpoint: str | None
    correlation_id: str | None
    users_affected: UsersAffected | None
    channel_id: str
    reporter_id: str
    state: FeedbackState
    created_at: dt.datetime
    source: SourceMessage | None
    receipt_ts: str | None
    receipt_permalink: str | None
    ticket_key: str | None = None
    ticket_url: str | None = None
    ticket_status: str | None = None
    ticket_error: str | None = None
    resolved_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None
    # Everyone who reported it (the first reporter and each "+1"), and the people they reach.
    reporters: int = 1
    reach: int = 1
    merged_into_id: int | None = None  # merged into another item: it counts as closed
    known_match_id: int | None = None  # the known issue the form showed when it was filed
    known_workaround: str | None = None  # set while it is a known issue (user text)
    # Its owner: a Slack user, or the Jira assignee's name when no Slack user matches.
    owner_id: str | None = None
    owner_name: str | None = None  # user text (from Jira): escaped by each renderer

    @property
    def owned(self) -> bool:
        """Tell whether someone owns it."""
        return self.owner_id is not None or self.owner_name is not None


@dataclass(frozen=True)
class PlusOne:
    """A second (third…) reporter of a stored item: who, when, and what they saw."""

    reporter_id: str
    environment: str
    correlation_id: str | None
    users_affected: UsersAffected | None
    text: str  # their summary and what happened: user text, escaped by each renderer
    at: dt.datetime
    moved_from: str | None = None  # the short id of the item a merge moved it from


class PlusOneOutcome(StrEnum):
    """What became of a "Same problem: +1"."""

    ADDED = "added"
    ALREADY = "already"  # this person reported it already
    MERGED = "merged"  # the item was merged meanwhile
    RESOLVED = "resolved"  # the item was resolved meanwhile
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PlusOneResult:
    """A +1's outcome, the item it concerns (None when unknown) and where that went."""

    outcome: PlusOneOutcome
    feedback: Feedback | None = None
    merged_into: Feedback | None = None


class MergeOutcome(StrEnum):
    """What became of a lead's merge."""

    MERGED = "merged"
    MERGED_INTO_RESOLVED = "merged_into_resolved"  # done, and the target is resolved: say so
    SAME = "same"  # an item into itself
    UNKNOWN = "unknown"
    ALREADY = "already"  # the source was merged before
    TARGET_MERGED = "target_merged"  # the target was merged into another item
    CYCLE = "cycle"
    NOT_ALLOWED = "not_allowed"  # only leads merge


@dataclass(frozen=True)
class MergeResult:
    """A merge's outcome and the two items as they are after it (None when unknown)."""

    outcome: MergeOutcome
    source: Feedback | None = None
    target: Feedback | None = None


class KnownOutcome(StrEnum):
    """What became of marking or retiring a known issue."""

    MARKED = "marked"
    UPDATED = "updated"  # it was known already: the workaround is replaced
    RETIRED = "retired"
    NOT_KNOWN = "not_known"  # retiring an item that is not a known issue
    MERGED = "merged"  # the item was merged into another: mark that one
    UNKNOWN = "unknown"
    NOT_ALLOWED = "not_allowed"  # only leads mark and retire


@dataclass(frozen=True)
class KnownIssue:
    """An item a lead marked as known (its workaround is on it), and its recent +1s."""

    feedback: Feedback
    new_plus_ones: int = 0  # +1s since a given time (the digest's window)


@dataclass(frozen=True)
class Suggestion:
    """A stored item shown in the form as maybe the same problem."""

    feedback_id: int
    short_id: str
    summary: str
    severity: str
    state: FeedbackState
    ticket_key: str | None
    ticket_url: str | None
    link: str | None  # its thread
    reporters: int
    created_at: dt.datetime
    workaround: str | None  # set when it is a known issue


@dataclass(frozen=True)
class Submission:
    """The outcome of submitting a draft: the feedback, and whether this call created it."""

    feedback: Feedback
    created: bool


@dataclass(frozen=True)
class SimilarQuery:
    """A report being typed, as the similar-report lookup reads it.

    `resolved_since` is computed by the rule: resolved items older than it never match.
    `category` and `severity` are what the reporter picked in the form, when known.
    """

    summary: str
    happened: str = ""
    component: str | None = None
    endpoint: str | None = None
    resolved_since: dt.datetime | None = None
    category: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class SimilarCandidate:
    """A stored report the database found close to a query, with its text score (higher is
    closer; comparable only within one lookup)."""

    feedback_id: int
    summary: str
    happened: str
    severity: str
    state: FeedbackState
    component: str
    endpoint: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    ticket_key: str | None
    ticket_url: str | None
    channel_id: str
    receipt_ts: str | None
    receipt_permalink: str | None
    text_score: float
    reporters: int = 1  # the model keeps one reporter per report
    # A report with a ticket is a known issue: someone has triaged it already.
    known_issue: bool = False
    category: str = ""  # as the reporter picked it (bug, performance, access, data, ...)
    workaround: str | None = None  # a lead's workaround, when it is marked as known


@dataclass(frozen=True)
class Effect:
    """A side effect to queue in the outbox, in the same transaction as the change it follows.

    `key` makes queueing idempotent; `{feedback_id}` in it (and the payload's `feedback_id`) is
    filled in when the effect is queued together with a new feedback.
    """

    kind: str
    payload: dict[str, Any]
    key: str
    # A follow-up goes just ahead of its parent's place in the queue (depth first); one that can
    # wait (a page's thread mention, once the page is in its DM) joins the back of the queue
    # instead, so a burst's remaining pages are not held up behind it.
    ahead: bool = True


class TicketCategory(StrEnum):
    """Jira's three status categories: every workflow status belongs to one."""

    NEW = "new"
    IN_PROGRESS = "indeterminate"
    DONE = "done"


@dataclass(frozen=True)
class TicketDraft:
    """A ticket to open, in the tracker's neutral terms.

    `facts` are the bot's own vocabulary (severity label, reporter); `details` and `summary` are
    user text, which the tracker must render inert.
    """

    idempotency_label: str
    summary: str
    facts: tuple[tuple[str, str], ...]
    details: tuple[tuple[str, str], ...]
    links: tuple[tuple[str, str], ...]
    priority: str | None
    labels: tuple[str, ...]
    components: tuple[str, ...]
    extra_fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class TicketComment:
    """A comment to add to an item's ticket, in the tracker's neutral terms.

    `marker` names the event the comment is about: the tracker looks for it among the
    issue's comments first, so a retried delivery never comments twice. `details` are user
    text, which the tracker renders inert.
    """

    marker: str
    heading: str
    facts: tuple[tuple[str, str], ...]
    details: tuple[tuple[str, str], ...] = ()

    def payload(self) -> dict[str, Any]:
        """The comment as outbox JSON."""
        return {
            "marker": self.marker,
            "heading": self.heading,
            "facts": [list(f) for f in self.facts],
            "details": [list(d) for d in self.details],
        }

    @classmethod
    def from_payload(cls, data: object) -> TicketComment:
        """Read a comment back from outbox JSON."""
        if not isinstance(data, dict):
            raise ValueError("not a comment")

        def pairs(key: str) -> tuple[tuple[str, str], ...]:
            return tuple((str(a), str(b)) for a, b in data.get(key) or ())

        return cls(str(data["marker"]), str(data["heading"]), pairs("facts"), pairs("details"))


@dataclass(frozen=True)
class Ticket:
    """A ticket as the tracker has it now."""

    key: str
    url: str
    status: str
    category: TicketCategory
    labels: tuple[str, ...] = ()
    updated: dt.datetime | None = None
    resolved: dt.datetime | None = None
    status_changed_by: str | None = None  # from the changelog, when the tracker gave it
    status_changed_at: dt.datetime | None = None
    created: dt.datetime | None = None  # when the tracker ran its create (None: not read)
    assignee: TicketUser | None = None  # None: unassigned (or not read)
    assignee_changed_by: str | None = None  # from the changelog, when the tracker gave it
    assignee_changed_at: dt.datetime | None = None


@dataclass(frozen=True)
class TicketUser:
    """A person in the tracker: its own id (account id or user name), name and e-mail."""

    id: str
    name: str
    email: str | None = None


class NoteKind(StrEnum):
    """What a note in a feedback's thread is about."""

    TICKET_CREATED = "ticket_created"
    TICKET_REFUSED = "ticket_refused"
    TICKET_STATUS = "ticket_status"
    TICKET_DUPLICATE = "ticket_duplicate"  # a second issue for the item was linked and closed
    ACKNOWLEDGED = "acknowledged"  # someone took an escalating item
    REESCALATED = "reescalated"  # a lead restarted its climb
    OWNER = "owner"  # someone took it, a lead assigned it, or Jira re-assigned it
    RESOLVED = "resolved"  # a lead resolved it from Slack
    ROOT_CAUSE = "root_cause"  # its root cause was recorded


@dataclass(frozen=True)
class ThreadNote:
    """A short update posted in a feedback's home thread (and, some, to its reporter)."""

    kind: NoteKind
    detail: str = ""
    actor: str | None = None
    at: dt.datetime | None = None


@dataclass(frozen=True)
class Alert:
    """A stored alert: one rule breached for one scope."""

    id: int
    rule_id: str
    scope: tuple[tuple[str, str], ...]
    source_id: str
    severity: str
    channel_id: str
    state: str  # firing / resolved
    value: float
    threshold: float
    unit: str  # ratio / ms / x / rps / value: how to show value and threshold
    since: dt.datetime
    fired_at: dt.datetime
    resolved_at: dt.datetime | None = None
    message_ts: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None
    ticket_key: str | None = None
    ticket_url: str | None = None


@dataclass(frozen=True)
class AlertNote:
    """Who did what to an alert: acknowledged, silenced (until, why) or unsilenced."""

    kind: str
    by: str
    until: dt.datetime | None = None
    reason: str = ""


class OwnerOutcome(StrEnum):
    """What became of taking, assigning or resolving an item from Slack."""

    DONE = "done"
    ALREADY = "already"  # they own it already / it is resolved already
    NOT_ALLOWED = "not_allowed"  # assigning and resolving are for leads
    CLOSED = "closed"  # resolved or merged: nothing to take
    DEACTIVATED = "deactivated"  # the person to assign has left the workspace
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class OwnerResult:
    """An owner change's outcome and the item as it is after it (None when unknown)."""

    outcome: OwnerOutcome
    feedback: Feedback | None = None


@dataclass(frozen=True)
class RootCause:
    """Why a resolved item happened: symptom, the 5 whys, category, fix and prevention.

    Every text is user text: each renderer (Slack, Jira, Markdown) escapes it.
    """

    feedback_id: int
    symptom: str
    whys: tuple[str, ...]
    category: str
    fix: str
    prevention: str
    recorded_by: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class AuditEvent:
    """One change of an item, as its audit trail has it."""

    at: dt.datetime
    actor: str  # a Slack user id, "jira", or a Jira user's name
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class ClimbFacts:
    """An item's escalation as a post-mortem tells it: its clocks and who acknowledged."""

    started_at: dt.datetime
    ack_due: dt.datetime
    resolve_due: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    sla_breached_at: dt.datetime | None


@dataclass(frozen=True)
class PostmortemFacts:
    """Everything the bot knows about a resolved (or open) item, for its post-mortem."""

    feedback: Feedback
    root_cause: RootCause | None
    events: tuple[AuditEvent, ...]
    reporters: tuple[PlusOne, ...]  # every later reporter (+1s and those merged in)
    merged: tuple[Feedback, ...]  # the items merged into it
    climb: ClimbFacts | None
    alerts: tuple[Alert, ...]  # alerts fired or resolved while it was open
    lessons: tuple[Lesson, ...] = ()  # the lessons learned that name it


# -- escalation -------------------------------------------------------------------------------


class ItemKind(StrEnum):
    """What escalates: filed feedback, or a gateway alert."""

    FEEDBACK = "feedback"
    ALERT = "alert"


_REF = re.compile(r"^(feedback|alert):(\d{1,12})$")


@dataclass(frozen=True)
class ItemRef:
    """One escalating item; spelled `feedback:12` or `alert:5` in button values and payloads."""

    kind: ItemKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, value: object) -> ItemRef | None:
        """Read `feedback:12` / `alert:5`; None for anything else (a forged button value)."""
        match = _REF.match(value) if isinstance(value, str) else None
        return cls(ItemKind(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class PageMessage:
    """A page DM as sent, so it can be updated when someone acknowledges."""

    user: str
    channel: str
    ts: str
    step: str = ""  # the claim it was sent for: a retried page skips the people it reached
    group: int | None = None  # the grouped page DM it is part of (channel and ts are the group's)


@dataclass(frozen=True)
class GroupEntry:
    """One step's page in a person's grouped page DM."""

    escalation_id: int
    generation: int
    step: str  # the claim: escalation:generation:round:step_index
    role: str
    round: int
    sla_breached: bool
    sole: bool  # the step's only target: if the DM is refused, the climb skips to the next step


@dataclass(frozen=True)
class PageGroup:
    """The page DM one person gets for the pages of a short window, updated as more arrive."""

    id: int
    user: str
    channel: str | None  # None until posted
    ts: str | None
    opened_at: dt.datetime
    version: int  # bumped by every change the DM must show
    rendered_version: int
    closed: bool
    entries: tuple[GroupEntry, ...]
    maybe_posted: bool = False  # an earlier delivery began posting it and did not record it


@dataclass(frozen=True)
class EscalationValues:
    """An escalation's state as stored: the state whole (JSON) and what the rules computed of it.

    The escalation rules compute the due times and SLA clocks; the repository only copies them
    into the columns its queries read (the scheduler's `next_due`, the digests' SLA figures).
    """

    state: dict[str, Any]
    started_at: dt.datetime
    next_due: dt.datetime | None
    ack_due: dt.datetime
    resolve_due: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class StoredEscalation:
    """An escalation as the database has it: its state still JSON, and who was paged."""

    id: int
    item: ItemRef
    generation: int
    severity: str
    state: dict[str, Any]
    paged: tuple[str, ...]
    pages: tuple[PageMessage, ...]
    breaches: int


@dataclass(frozen=True)
class EscalatingItem:
    """What a page needs to know about an item: where it lives and whether it is over."""

    ref: ItemRef
    severity: str
    title: str
    channel_id: str
    thread_ts: str | None  # the receipt or alert message; None until it is posted
    link: str | None
    started_at: dt.datetime
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class Page:
    """One page to one person (or the thread): what they are asked to look at, and why."""

    item: EscalatingItem
    severity_label: str
    role: str  # "primary on-call", "secondary on-call", "lead", …
    round: int  # 0-based round of the climb
    rounds: int
    sla_breached: bool
    escalating_since: dt.datetime
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None


# -- reports: local days, KPIs, digests, readiness, the weekly review -------------------------


@dataclass(frozen=True)
class LocalDays:
    """The local days a period [since, until) touches, and the UTC instants days 1, 2, … start.

    Computed by `bot.oncall.rota.local_days` (DST-safe); repositories bucket timestamps by it.
    """

    since: dt.datetime
    until: dt.datetime
    days: tuple[dt.date, ...]
    starts: tuple[dt.datetime, ...]


@dataclass(frozen=True)
class MeanTimes:
    """Mean time to acknowledge and to resolve one severity, and how many items each covers."""

    mtta_seconds: float | None
    mttr_seconds: float | None
    acknowledged: int
    resolved: int


@dataclass(frozen=True)
class ItemLine:
    """One item in a section: its id, words, where it lives, and what to say about it."""

    ref: str  # HC-12, or the alert's rule
    summary: str  # user text: the renderer escapes it
    severity: str
    link: str | None  # the Slack thread
    ticket_key: str | None = None
    ticket_url: str | None = None
    detail: str = ""  # "open 3 d 4 h · resolve-by passed 2 h ago"
    flag: str = ""  # "breach" / "late" / "" — drives ordering and emphasis


@dataclass(frozen=True)
class Section:
    """A part of the digest: its lines (top N), how many there were, and a one-line summary."""

    title: str
    lines: tuple[ItemLine, ...]
    total: int
    summary: str = ""  # "3 new: sev1 1 · sev2 2"; the renderer says "none" when total is 0
    empty: str = "Nothing."

    @property
    def more(self) -> int:
        """How many were left out of `lines`."""
        return max(0, self.total - len(self.lines))


@dataclass(frozen=True)
class Digest:
    """A stand-up digest for one period (from the previous digest's time to this one's)."""

    title: str
    since: dt.datetime
    until: dt.datetime
    zone: str
    late: bool
    sections: tuple[Section, ...]
    on_call: str = ""
    full_lists: dict[str, tuple[ItemLine, ...]] = field(default_factory=dict)


class Verdict(StrEnum):
    """Whether the exit criteria say hypercare may end."""

    READY = "ready"
    NOT_READY = "not_ready"
    NO_CRITERIA = "no_criteria"


class Trend(StrEnum):
    """Which way a criterion's figure moved against the period before; "" when unknown."""

    IMPROVING = "improving"
    WORSE = "worse"
    STEADY = "steady"
    UNKNOWN = ""


@dataclass(frozen=True)
class CriterionResult:
    """One criterion judged: met (None: no data), its figure in words, and its trend."""

    label: str
    met: bool | None
    value: str
    trend: Trend


@dataclass(frozen=True)
class Readiness:
    """Every criterion judged, the verdict, and where `now` is in the planned window."""

    criteria: tuple[CriterionResult, ...]
    verdict: Verdict
    days_left: int | None  # None without a planned window
    day_number: int | None


@dataclass(frozen=True)
class Chart:
    """A rendered chart and exactly what it plotted (also embedded in the PNG)."""

    png: bytes
    title: str
    filename: str
    categories: list[str]  # ISO days, or severity ids for the response-times chart
    series: dict[str, list[float | None]]  # what each plotted series held, by name
    no_data: bool  # True when the PNG is the 'No data this week' placeholder
    texts: list[str]  # every visible text: title, axis and tick labels, legend, annotations


class LessonKind(StrEnum):
    """What a lesson learned is about (the register's four headings)."""

    WENT_WELL = "went_well"
    TO_IMPROVE = "to_improve"
    UNEXPECTED = "unexpected"
    ARCHITECTURE = "architecture"

    @property
    def label(self) -> str:
        """The heading shown for the kind."""
        return _LESSON_LABELS[self]


_LESSON_LABELS = {
    LessonKind.WENT_WELL: "Went well",
    LessonKind.TO_IMPROVE: "To improve",
    LessonKind.UNEXPECTED: "Unexpected",
    LessonKind.ARCHITECTURE: "Architecture insight",
}


@dataclass(frozen=True)
class LinkedItem:
    """An item a lesson or a report names: its id and where its thread is."""

    feedback_id: int
    short_id: str
    link: str | None  # the receipt's permalink
    workaround: str | None = None  # a known issue's workaround (user text)


@dataclass(frozen=True)
class Lesson:
    """One entry of the lessons-learned register (its text is user text)."""

    id: int
    kind: LessonKind
    text: str
    author_id: str
    created_at: dt.datetime
    items: tuple[LinkedItem, ...] = ()

    @property
    def short_id(self) -> str:
        """How people name it: L-3."""
        return f"L-{self.id}"


@dataclass(frozen=True)
class LessonDraft:
    """A lesson as submitted, before it is stored."""

    kind: LessonKind
    text: str
    author_id: str
    item_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class RootCauseTheme:
    """A root-cause category of resolved items: how many, and the latest of them."""

    category: str
    count: int
    recent: tuple[LinkedItem, ...]


# -- the user pulse ---------------------------------------------------------------------------

SATISFIED_FROM = 4  # CSAT counts the answers of 4 and 5 out of 5 as satisfied


class PulseAudience(StrEnum):
    """Who a pulse asks: everyone in a channel, or each recent reporter by DM."""

    CHANNEL = "channel"
    REPORTERS = "reporters"


@dataclass(frozen=True)
class Pulse:
    """One satisfaction pulse as sent: its question, audience and answer window."""

    id: int
    key: str  # `scheduled:<local date>` or `now:<…>`: unique, so a slot is sent once
    question: str
    audience: PulseAudience
    channel_id: str | None  # the channel asked (None for DMs to reporters)
    recipients: int  # people DMed (reporters), or 0 for a channel pulse
    created_by: str | None  # the lead who sent it now; None when scheduled
    created_at: dt.datetime
    closes_at: dt.datetime  # answers are taken until then (a newer pulse closes it earlier)

    def is_open(self, now: dt.datetime) -> bool:
        """Whether an answer given at `now` still counts."""
        return now < self.closes_at


@dataclass(frozen=True)
class PulseAnswer:
    """One person's answer to one pulse: their latest score, and an optional comment."""

    pulse_id: int
    user_id: str
    score: int  # 1 … 5
    comment: str | None  # user text, private: only counts are ever shown in public
    answered_at: dt.datetime  # the first answer: the period it counts in
    updated_at: dt.datetime


@dataclass(frozen=True)
class Satisfaction:
    """The answers of a period: how many, how many satisfied (4 or 5), CSAT and the mean."""

    responses: int
    satisfied: int
    csat_percent: float | None  # share of answers of 4 or 5; None without answers
    mean: float | None  # mean score, 1 … 5; None without answers
    comments: int = 0

    @classmethod
    def of(cls, scores: list[int], comments: int = 0) -> Satisfaction:
        """The figures of a list of scores."""
        satisfied = sum(1 for s in scores if s >= SATISFIED_FROM)
        if not scores:
            return cls(0, 0, None, None, comments)
        return cls(
            len(scores),
            satisfied,
            100 * satisfied / len(scores),
            sum(scores) / len(scores),
            comments,
        )


@dataclass(frozen=True)
class SatisfactionWeek:
    """One week of answers (for charts and the exit report)."""

    week_start: dt.date
    responses: int
    csat_percent: float | None
    mean: float | None


@dataclass(frozen=True)
class SatisfactionTrend:
    """A period's satisfaction against the period of the same length before it."""

    current: Satisfaction
    previous: Satisfaction
    since: dt.datetime
    until: dt.datetime


@dataclass(frozen=True)
class WeeklyReview:
    """One week's review: its sections, the readiness verdict, and the charts."""

    title: str
    since: dt.datetime
    until: dt.datetime
    late: bool
    numbers: tuple[str, ...]  # "12 opened · 9 resolved · 5 open now", …
    sections: tuple[Section, ...]
    readiness: Readiness
    charts: tuple[Chart, ...]
    # The lessons-learned register's week, newest first, and how many there were in all.
    lessons: tuple[Lesson, ...] = ()
    lessons_total: int = 0
    # The knowledge base: root-cause categories over the hypercare window, most frequent first.
    root_causes: tuple[RootCauseTheme, ...] = ()
    root_causes_since: dt.date | None = None
    # The user pulse's week against the week before; None without a `pulse:` section.
    satisfaction: SatisfactionTrend | None = None
