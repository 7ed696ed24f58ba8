"""Ports: the small interfaces services use to reach the outside world, all in one place.

Implementations raise `DeliveryDeferred` when a call may succeed later (rate limit, 5xx,
timeout, connection failure) and `DeliveryRefused` when it never will (a 4xx such as an
unknown channel). They never raise transport-specific exceptions to the services.

The ports speak domain types (`bot.domain`) and the alert engine's pure shapes; nothing they
import imports this module back (tests/test_ports.py checks it), so every layer may use them.
Groups: time; the chat tool (notifiers, pager); the issue tracker; gateway metrics; stored
figures the reports judge on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.alerts.engine.alerting import SourceEvent
from bot.alerts.engine.model import Scrape, ScrapeFailure
from bot.domain import (
    Alert,
    AlertNote,
    Chart,
    Digest,
    Feedback,
    LocalDays,
    MeanTimes,
    Page,
    PageMessage,
    PlusOne,
    Pulse,
    RootCause,
    Satisfaction,
    SatisfactionWeek,
    ThreadNote,
    Ticket,
    TicketComment,
    TicketDraft,
    TicketUser,
    Verdict,
    WeeklyReview,
)

# -- time -----------------------------------------------------------------------------------

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """Return the current time in UTC (the production clock)."""
    return dt.datetime.now(dt.UTC)


# -- the chat tool ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PostedMessage:
    """Where a message landed."""

    channel_id: str
    ts: str
    permalink: str | None


class Notifier(Protocol):
    """Tells people in the chat tool about feedback."""

    def post_receipt(self, feedback: Feedback) -> PostedMessage:
        """Post the feedback's receipt (its home thread) to its channel."""
        ...

    def find_receipt(self, feedback: Feedback) -> PostedMessage | None:
        """Find the feedback's receipt among its channel's newest messages, if one was posted."""
        ...

    def reply_to_source(self, feedback: Feedback) -> None:
        """Reply in the reported message's thread with a link to the feedback."""
        ...

    def confirm_to_reporter(self, feedback: Feedback) -> None:
        """Tell the reporter, privately, that the feedback was filed and where."""
        ...

    def tell_reporter_of_failure(self, feedback: Feedback, reason: str) -> None:
        """Tell the reporter the feedback is saved but could not be posted, and why."""
        ...

    def refresh_receipt(self, feedback: Feedback) -> None:
        """Re-render the receipt in place (ticket, status)."""
        ...

    def note_in_thread(self, feedback: Feedback, note: ThreadNote) -> None:
        """Post a short update in the feedback's home thread."""
        ...

    def tell_reporter_of_ticket(self, feedback: Feedback) -> None:
        """Tell the reporter, privately, that the feedback has a ticket."""
        ...

    def permalink(self, channel_id: str, ts: str) -> str | None:
        """Return a link to a message, or None when it cannot be had right now."""
        ...


class Directory(Protocol):
    """Who people are in the chat tool: found by e-mail, and their e-mail (both cached)."""

    def user_for_email(self, email: str) -> str | None:
        """The chat user with this e-mail, or None (none, or deactivated)."""
        ...

    def email_of(self, user: str) -> str | None:
        """A chat user's e-mail, or None when the profile shows none."""
        ...

    def is_deactivated(self, user: str) -> bool:
        """Whether the chat user's account is deactivated (False when the chat tool does not
        know them or cannot say right now)."""
        ...


class IntakeNotifier(Protocol):
    """Slack, as intake's later reporters, merges and known issues need it."""

    def plus_one_in_thread(self, feedback: Feedback, entry: PlusOne) -> None:
        """Say in the item's thread who else reported it, with their details."""
        ...

    def confirm_plus_one(self, feedback: Feedback, entry: PlusOne) -> None:
        """Tell the +1's reporter, privately, that they were added to the item."""
        ...

    def merge_in_thread(self, feedback: Feedback, other: Feedback, actor: str) -> None:
        """Say in an item's thread that it was merged into `other` (or `other` into it)."""
        ...

    def known_in_thread(self, feedback: Feedback, workaround: str | None, actor: str) -> None:
        """Say in the item's thread that it is a known issue now (None: no longer)."""
        ...

    def refresh_receipt(self, feedback: Feedback) -> None:
        """Re-render the receipt in place."""
        ...


class RcaNotifier(Protocol):
    """Slack, as root causes and post-mortems need it."""

    def ask_root_cause(self, feedback: Feedback) -> None:
        """Post the *Record root cause* button in the item's thread, for its owner."""
        ...

    def root_cause_in_thread(self, feedback: Feedback, cause: RootCause) -> None:
        """Say in the item's thread what its root cause is."""
        ...

    def upload_postmortem(self, feedback: Feedback, filename: str, markdown: str) -> None:
        """Upload the post-mortem draft as a Markdown file in the item's thread."""
        ...

    def offer_lesson(self, feedback: Feedback) -> None:
        """Post *Add a lesson* under the post-mortem draft in the item's thread."""
        ...


class AlertNotifier(Protocol):
    """Tells the team about alerts (implemented by the Slack notifier)."""

    def post_alert(self, alert: Alert) -> PostedMessage:
        """Post a firing alert to its channel."""
        ...

    def alert_repeat(self, alert: Alert) -> None:
        """Remind, in the alert's thread, that it is still firing."""
        ...

    def alert_resolved(self, alert: Alert) -> None:
        """Update the alert's message in place and note the resolution in its thread."""
        ...

    def source_notice(self, channel_id: str, event: SourceEvent) -> None:
        """Say a metrics source went down or came back."""
        ...

    def refresh_alert(self, alert: Alert, silenced_until: dt.datetime | None) -> None:
        """Re-render the alert's message in place (acknowledged, silenced)."""
        ...

    def alert_note(self, alert: Alert, note: AlertNote) -> None:
        """Post a short update in the alert's thread."""
        ...


class HandoffNotifier(Protocol):
    """Tells the team the person on call changed."""

    def handoff_notice(self, channel_id: str, handoff: Mapping[str, object]) -> None:
        """Post who hands over to whom."""
        ...


class DigestNotifier(Protocol):
    """Posts digests."""

    def post_digest(self, channel_id: str, digest: Digest) -> PostedMessage:
        """Post the digest; returns where it landed (its thread takes the full lists)."""
        ...

    def post_full_lists(self, channel_id: str, thread_ts: str, digest: Digest) -> None:
        """Post the sections cut short, in full, in the digest's thread."""
        ...


class WeeklyNotifier(Protocol):
    """Posts the weekly review and its charts."""

    def post_weekly(self, channel_id: str, review: WeeklyReview) -> PostedMessage:
        """Post the review message."""
        ...

    def upload_chart(self, channel_id: str, thread_ts: str, chart: Chart) -> None:
        """Upload one chart as a PNG file in the review's thread."""
        ...


@dataclass(frozen=True)
class ReportFile:
    """A file a report hands over (its Markdown, a chart): name, title and bytes."""

    filename: str
    title: str
    content: bytes


class ExitReportNotifier(Protocol):
    """Posts the hypercare closing report."""

    def upload_exit_report(
        self,
        channel_id: str,
        files: Sequence[ReportFile],
        as_of: dt.datetime,
        verdict: Verdict,
        requested_by: str | None,
    ) -> None:
        """Share the report's files in one message: every file, or none when it fails."""
        ...


class ReportNotifier(DigestNotifier, WeeklyNotifier, ExitReportNotifier, Protocol):
    """Posts both reports (one adapter does)."""


class PulseNotifier(Protocol):
    """Asks the user pulse's question in the chat tool."""

    def post_pulse(self, to: str, pulse: Pulse) -> PostedMessage:
        """Post the question with its 1–5 buttons to a channel, or to a person (a DM)."""
        ...


class Pager(Protocol):
    """Reaches people in the chat tool for escalation."""

    def user_for_email(self, email: str) -> str | None:
        """The chat user with this e-mail, or None when there is none (or it is deactivated)."""
        ...

    def page_person(self, user: str, page: Page) -> PostedMessage:
        """DM one person the page, with an Acknowledge button."""
        ...

    def page_in_thread(self, page: Page, mentions: Sequence[str], broadcast: bool) -> None:
        """Mention the paged people (or a group, or the channel) in the item's thread."""
        ...

    def update_page(self, message: PageMessage, page: Page) -> None:
        """Re-render a page DM after the item was acknowledged."""
        ...

    def post_group(self, user: str, group_id: int, pages: Sequence[Page]) -> PostedMessage:
        """DM one person the pages of a short window in one message: each with its own
        Acknowledge, and one for them all."""
        ...

    def find_group(self, user: str, group_id: int) -> PostedMessage | None:
        """The grouped page DM posted for `group_id`, if one was (a try that died after posting
        it and before recording it); None when there is none."""
        ...

    def update_group(self, message: PageMessage, group_id: int, pages: Sequence[Page]) -> None:
        """Show a grouped page DM anew: pages added, or acknowledged."""
        ...

    def report_missing(self, to: Sequence[str], page: Page, person: str, reason: str) -> None:
        """Tell the admins (by DM, or a channel id) that a page reached nobody."""
        ...


# -- the issue tracker -----------------------------------------------------------------------


class TicketTracker(Protocol):
    """An issue tracker (Jira). Raises DeliveryDeferred / DeliveryRefused like every port."""

    def find_all(self, label: str) -> list[Ticket]:
        """Return every issue carrying an idempotency label (more than one: duplicates)."""
        ...

    def create(self, draft: TicketDraft) -> Ticket:
        """Open an issue."""
        ...

    def get(self, key: str) -> Ticket:
        """Return one issue's current state."""
        ...

    def updated_since(self, label: str, minutes: int) -> list[Ticket]:
        """Return issues with a label updated in the last minutes, oldest change first."""
        ...

    def created_since(self, label: str, minutes: int) -> list[Ticket]:
        """Return issues with a label created in the last minutes."""
        ...

    def close_duplicate(self, key: str, original: str, comment: str, transition: str) -> bool:
        """Link an issue to its original as a duplicate, comment once, and close it through
        `transition`; False when that transition is not offered (it stays open). Repeatable."""
        ...

    def comment(self, key: str, comment: TicketComment) -> None:
        """Add a comment to an issue, unless one with the comment's marker is there already."""
        ...

    def link_duplicate(self, duplicate: str, original: str) -> None:
        """Link `duplicate` to `original` as a duplicate, unless they are linked so already."""
        ...

    def assign(self, key: str, email: str) -> TicketUser | None:
        """Assign an issue to the tracker's user with this e-mail; None when there is none."""
        ...

    def check(
        self, *, priorities: Sequence[str], components: Sequence[str], custom_fields: Sequence[str]
    ) -> list[str]:
        """Return what of a mapping the tracker would refuse."""
        ...


# -- gateway metrics -------------------------------------------------------------------------


class MetricSource(Protocol):
    """A gateway's metrics: an exposition endpoint, or a Prometheus server asked with PromQL."""

    source_id: str

    def read(self, now: dt.datetime) -> Scrape | ScrapeFailure:
        """Read once; failures are returned, never raised."""
        ...


# -- stored figures the reports judge on -----------------------------------------------------


class MetricHistory(Protocol):
    """Stored daily gateway figures (gateway alerting's hourly table, folded into local days)."""

    def metric_days(
        self, days: LocalDays, unit: str
    ) -> tuple[tuple[dt.date, ...], dict[str, tuple[float | None, ...]]]: ...


class KpiSource(Protocol):
    """The KPI reads readiness needs (`storage.kpis.Kpis` provides them)."""

    def mean_times(self, since: dt.datetime, until: dt.datetime) -> Mapping[str, MeanTimes]: ...
    def opened(self, since: dt.datetime, until: dt.datetime) -> Mapping[str, int]: ...
    def open_counts(self, now: dt.datetime) -> Mapping[str, int]: ...
    def sla_breaches(self, since: dt.datetime, until: dt.datetime) -> int: ...
    def last_breach_at(self) -> dt.datetime | None: ...
    def last_open_of_severity(self, severity: str, now: dt.datetime) -> dt.datetime | None: ...
    def unowned_open(self, now: dt.datetime) -> int: ...


class SatisfactionSource(Protocol):
    """The user pulse's answers (`storage.pulse.PulseRepository` provides them)."""

    def satisfaction(self, start: dt.datetime, end: dt.datetime) -> Satisfaction:
        """The answers first given in (start, end]."""
        ...

    def weekly_satisfaction(
        self, start: dt.datetime, end: dt.datetime
    ) -> Sequence[SatisfactionWeek]:
        """The answers of (start, end] in weeks of seven days from `start`, oldest first."""
        ...
