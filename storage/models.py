"""Tables, as SQLAlchemy 2 typed models. Every timestamp is stored in UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

# The partial indexes' predicate, spelled as the queries spell it (storage/digest.py).
OPEN_ROWS = "state != 'resolved'"
OPEN_INDEX_COLUMNS = (
    "severity",
    "created_at",
    "id",
    "ticket_key",
    "ticket_status",
    "owner_id",
    "owner_name",
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime, also on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the bot stores aware UTC datetimes only")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with named constraints (Alembic batch mode on SQLite needs names)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class FeedbackRow(Base):
    """One piece of feedback, with every field of the form."""

    __tablename__ = "feedback"
    __table_args__ = (  # for the KPI queries (storage/kpis.py); see migration 0007
        Index("ix_feedback_resolved_at", "resolved_at", "severity", "created_at"),
        Index("ix_feedback_created_at_severity", "created_at", "severity"),
        Index("ix_feedback_severity_resolved_at", "severity", "resolved_at"),
        # The digest's open lists, oldest first per severity, and its open counts: only the
        # open rows (a few percent of the table) are in it, with every column those queries
        # read, so they never visit the table for rows they do not keep; see migration 0008.
        Index(
            "ix_feedback_open",
            *OPEN_INDEX_COLUMNS,
            sqlite_where=text(OPEN_ROWS),
            postgresql_where=text(OPEN_ROWS),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Inbound idempotency: one feedback per Slack view (double submits, retried deliveries).
    submission_key: Mapped[str] = mapped_column(String(255), unique=True)
    summary: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(64), index=True)
    component: Mapped[str] = mapped_column(String(64), index=True)
    environment: Mapped[str] = mapped_column(String(64))
    trying: Mapped[str] = mapped_column(Text)
    expected: Mapped[str] = mapped_column(Text)
    actual: Mapped[str] = mapped_column(Text)
    api_endpoint: Mapped[str | None] = mapped_column(String(300))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    users_affected: Mapped[str | None] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(32))
    reporter_id: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]
    source_channel_id: Mapped[str | None] = mapped_column(String(32))
    source_ts: Mapped[str | None] = mapped_column(String(32))
    source_author_id: Mapped[str | None] = mapped_column(String(32))
    source_text: Mapped[str | None] = mapped_column(Text)
    source_permalink: Mapped[str | None] = mapped_column(String(500))
    receipt_ts: Mapped[str | None] = mapped_column(String(32))
    receipt_permalink: Mapped[str | None] = mapped_column(String(500))
    ticket_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    ticket_url: Mapped[str | None] = mapped_column(String(500))
    ticket_status: Mapped[str | None] = mapped_column(String(100))
    ticket_category: Mapped[str | None] = mapped_column(String(16))
    # Set when Jira refused the ticket for good; cleared when a lead retries.
    ticket_error: Mapped[str | None] = mapped_column(Text)
    # The first acknowledgement of an escalating item (the escalation table keeps the climb).
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[dt.datetime | None]
    # The first reporter plus every "+1" and every reporter merged in; reach sums the people
    # each of them said were affected. Kept here so lists and the priority read one row.
    reporters: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    reach: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    # Merged into another item (a lead's merge): it is resolved here and lives on there.
    merged_into_id: Mapped[int | None] = mapped_column(index=True)
    # The known issue the form showed when the reporter filed anyway: the receipt links it.
    known_match_id: Mapped[int | None]
    # A known issue: a lead's workaround, shown to whoever reports it again (the audit trail
    # keeps earlier ones; retiring clears it).
    known_workaround: Mapped[str | None] = mapped_column(Text)
    known_by: Mapped[str | None] = mapped_column(String(32))
    known_at: Mapped[dt.datetime | None]
    # Who owns it: the Jira assignee when it has a ticket, else whoever took it. `owner_id` is
    # the Slack user; `owner_name` the Jira assignee's name when no Slack user matches;
    # `owner_ref` the Jira account the owner is tied to, so an assignment the bot made itself
    # is not announced again when the poll sees it.
    owner_id: Mapped[str | None] = mapped_column(String(32), index=True)
    owner_name: Mapped[str | None] = mapped_column(String(200))
    owner_ref: Mapped[str | None] = mapped_column(String(200))
    owner_at: Mapped[dt.datetime | None]


class ReporterRow(Base):
    """Someone who reported an item after its first reporter: a "+1", or one merged in."""

    __tablename__ = "feedback_reporter"
    __table_args__ = (
        # One person counts once per item: a double click or a second +1 adds nothing.
        UniqueConstraint("feedback_id", "reporter_id", name="uq_feedback_reporter_feedback_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id"))
    reporter_id: Mapped[str] = mapped_column(String(32))
    environment: Mapped[str] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    users_affected: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    # Set when a merge moved this reporter here: the item they first reported.
    moved_from_id: Mapped[int | None]


class RootCauseRow(Base):
    """The root cause of a resolved item: the symptom, the 5 whys, its category, the fix and
    what prevents it next time (user text, escaped by each renderer). One per item; recording
    again replaces it (the audit trail keeps who changed it)."""

    __tablename__ = "root_cause"

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id"), unique=True)
    symptom: Mapped[str] = mapped_column(Text)
    whys: Mapped[list[Any]] = mapped_column(JSON)
    category: Mapped[str] = mapped_column(String(64), index=True)
    fix: Mapped[str] = mapped_column(Text)
    prevention: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[dt.datetime]


class LessonRow(Base):
    """An entry of the lessons-learned register: its kind, text (user text) and author."""

    __tablename__ = "lesson"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(index=True)


class LessonItemRow(Base):
    """An item a lesson names: a row each, so an item's lessons are found by index."""

    __tablename__ = "lesson_item"

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id"), primary_key=True)
    feedback_id: Mapped[int] = mapped_column(
        ForeignKey("feedback.id"), primary_key=True, index=True
    )


class PulseRow(Base):
    """One satisfaction pulse as sent. Its key (`scheduled:<local date>` for a scheduled one) is
    unique, so however many replicas find a slot due, one of them sends it."""

    __tablename__ = "pulse"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    question: Mapped[str] = mapped_column(String(300))
    audience: Mapped[str] = mapped_column(String(16))  # channel / reporters
    channel_id: Mapped[str | None] = mapped_column(String(32))
    recipients: Mapped[int]
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    closes_at: Mapped[dt.datetime] = mapped_column(index=True)


class PulseAnswerRow(Base):
    """One person's answer to one pulse: pressing another number updates it, never adds one."""

    __tablename__ = "pulse_answer"
    __table_args__ = (
        UniqueConstraint("pulse_id", "user_id", name="uq_pulse_answer_pulse_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pulse_id: Mapped[int] = mapped_column(ForeignKey("pulse.id"))
    user_id: Mapped[str] = mapped_column(String(32))
    score: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)  # private: only counted in public
    answered_at: Mapped[dt.datetime] = mapped_column(index=True)  # the first answer
    updated_at: Mapped[dt.datetime]


class AuditRow(Base):
    """Who changed what, and when."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id"), index=True)
    actor_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]
    at: Mapped[dt.datetime]


class AlertRow(Base):
    """One alert: a rule breached for one scope, from firing until resolved."""

    __tablename__ = "alert"
    __table_args__ = (  # firing alerts and the latest resolved one, by severity (KPIs)
        Index("ix_alert_resolved_at", "resolved_at", "severity", "fired_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[dict[str, Any]]
    source_id: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)  # firing / resolved
    value: Mapped[float]
    threshold: Mapped[float]
    unit: Mapped[str] = mapped_column(String(16))
    since: Mapped[dt.datetime]
    fired_at: Mapped[dt.datetime] = mapped_column(index=True)
    resolved_at: Mapped[dt.datetime | None]
    message_ts: Mapped[str | None] = mapped_column(String(32))
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    acknowledged_at: Mapped[dt.datetime | None]
    ticket_key: Mapped[str | None] = mapped_column(String(64))
    ticket_url: Mapped[str | None] = mapped_column(String(500))


class AlertEngineStateRow(Base):
    """The rule engine's memory (alert book, source health), kept across restarts."""

    __tablename__ = "watch_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    record: Mapped[dict[str, Any]]
    updated_at: Mapped[dt.datetime]


class JobRunRow(Base):
    """A scheduled run claimed by one replica: (job, slot) is unique, so it happens once."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "slot", name="uq_job_run_job_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(100))
    slot: Mapped[str] = mapped_column(String(100))
    claimed_at: Mapped[dt.datetime]


class InboundRow(Base):
    """A delivery already taken in (a Jira webhook), so a redelivery is recognised and dropped."""

    __tablename__ = "inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255), unique=True)
    at: Mapped[dt.datetime]


class OutboxRow(Base):
    """A side effect that must happen (post, update, create a ticket), retried until done."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    # Enqueueing the same effect twice is a no-op: the key is unique.
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    done_at: Mapped[dt.datetime | None]


class PageGroupRow(Base):
    """One person's grouped page DM: the pages of a short window in one message.

    `entries` lists the steps it shows (JSON, a few dozen at most); `version` counts the changes
    the DM must show and `rendered_version` the last one Slack has, so a burst of changes is one
    update; `delivery_pending` says an update is queued already.
    """

    __tablename__ = "page_group"
    __table_args__ = (Index("ix_page_group_user_opened", "user_id", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(default=0)
    rendered_version: Mapped[int] = mapped_column(default=0)
    delivery_pending: Mapped[bool] = mapped_column(default=False)
    closed: Mapped[bool] = mapped_column(default=False)
    entries: Mapped[list[Any]] = mapped_column(JSON)
    # Set when a delivery is about to post the DM: a later try finding it set but no ts looks
    # in Slack for the DM before posting another (the earlier try may have died after posting).
    post_started_at: Mapped[dt.datetime | None]


class EscalationRow(Base):
    """One item's escalation: its policy snapshot and timeline state, and when to look again.

    `state` is the whole `EscalationState` (the truth); the other columns copy what queries need
    (the scheduler's `next_due`, the digests' SLA and acknowledgement figures).
    """

    __tablename__ = "escalation"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", name="uq_escalation_item_kind"),
        Index("ix_escalation_acknowledged_at", "acknowledged_at"),  # MTTA (KPIs)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_kind: Mapped[str] = mapped_column(String(16))  # feedback / alert
    item_id: Mapped[int]
    generation: Mapped[int] = mapped_column(default=1)  # a lead's re-escalation starts anew
    severity: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[dict[str, Any]]
    next_due: Mapped[dt.datetime | None] = mapped_column(index=True)
    started_at: Mapped[dt.datetime]
    ack_due: Mapped[dt.datetime]
    resolve_due: Mapped[dt.datetime]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[dt.datetime | None]
    sla_breached_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    breaches: Mapped[int] = mapped_column(default=0)
    paged: Mapped[list[Any]] = mapped_column(JSON)  # Slack user ids paged, who may acknowledge
    pages: Mapped[list[Any]] = mapped_column(JSON)  # [{user, channel, ts}] to update on ack


class OnCallOverrideRow(Base):
    """An override added from Slack: `who` covers `rota` from `starts_at` to `ends_at`."""

    __tablename__ = "oncall_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    rota: Mapped[str] = mapped_column(String(64))
    who: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime]


class MetricHourRow(Base):
    """One hour of one rule's observed values, for the daily error-rate and latency figures.

    Per poll, the rule's worst scope counts as one sample (the route that hurts most is what
    readiness is about). Rows are per hour, so a year of one rule is under 9,000 rows.
    """

    __tablename__ = "metric_hour"
    __table_args__ = (UniqueConstraint("rule_id", "hour", name="uq_metric_hour_rule_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))  # ratio (error rate) / ms (latency)
    hour: Mapped[dt.datetime] = mapped_column(index=True)  # UTC, truncated to the hour
    samples: Mapped[int]
    total: Mapped[float]  # sum of the samples, for the mean
    worst: Mapped[float]


# What migration 0012 makes for the similar-report lookup (storage/similar.py) that no model
# describes: SQLite's FTS5 table (and the shadow tables FTS5 keeps beside it), PostgreSQL's
# generated tsvector column and its GIN index. SQLAlchemy has no words for them, so comparing
# the schema with the models, and autogenerate, leave them out.
SEARCH_TABLE_PREFIX = "feedback_fts"
SEARCH_COLUMNS = frozenset({"search_vector"})
SEARCH_INDEXES = frozenset({"ix_feedback_search_vector"})


def modelled(_object: object, name: str | None, type_: str, reflected: bool, _to: object) -> bool:
    """Alembic's `include_object`: false for the text-search objects the models leave out."""
    if not reflected or name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_TABLE_PREFIX)
    if type_ == "column":
        return name not in SEARCH_COLUMNS
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True
