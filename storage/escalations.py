"""Escalations in the database: the climb's state, its step claims and the pages it sent.

Every change runs in one transaction that locks the escalation row, so a scheduler tick and an
acknowledgement never interleave: whichever commits second sees the other's result (the
acknowledgement wins when it commits first, and a tick that committed first has only queued
pages, which re-check the state before they send). Each step is claimed with a unique
`(job, slot)` row before its page is queued, so two replicas, or one that restarted, never
queue the same step twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

from sqlalchemy import Row, Table, func, select, text, union_all
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.domain import (
    Effect,
    EscalationValues,
    FeedbackState,
    GroupEntry,
    ItemKind,
    ItemRef,
    PageGroup,
    PageMessage,
    StoredEscalation,
)
from storage.db import among, dialect_insert
from storage.models import AlertRow, AuditRow, EscalationRow, FeedbackRow, JobRunRow, PageGroupRow
from storage.repositories import queue_effects, queue_effects_due


@dataclass(frozen=True)
class GroupAddition:
    """One step's page for one person, to go into their grouped page DM."""

    escalation_id: int
    user: str
    entry: GroupEntry


@dataclass(frozen=True)
class Claim:
    """A step to send once: the effects are queued only if this run wins `(job, slot)`."""

    job: str
    slot: str
    effects: Sequence[Effect]


@dataclass(frozen=True)
class Update:
    """What a change does to an escalation, decided by the service under the row lock.

    `values` is the new state with what the rules computed of it; `breach` says this change
    takes the SLA-breach round (counted, and dated by the resolve-by clock).
    """

    values: EscalationValues
    effects: Sequence[Effect] = ()
    claims: Sequence[Claim] = ()
    audit: tuple[str, str, dict[str, Any]] | None = None  # actor, action, detail
    restart: bool = False  # a new generation: the pages of the old climb are forgotten
    breach: bool = False


# What `_record` reads: a whole row, or just these columns of it.
_RECORD_COLUMNS = (
    EscalationRow.id,
    EscalationRow.item_kind,
    EscalationRow.item_id,
    EscalationRow.generation,
    EscalationRow.severity,
    EscalationRow.state,
    EscalationRow.paged,
    EscalationRow.pages,
    EscalationRow.breaches,
)


def _record(row: EscalationRow | Row[Any]) -> StoredEscalation:
    return StoredEscalation(
        id=row.id,
        item=ItemRef(ItemKind(row.item_kind), row.item_id),
        generation=row.generation,
        severity=row.severity,
        state=dict(row.state),
        paged=tuple(row.paged),
        pages=tuple(_page_message(page) for page in row.pages),
        breaches=row.breaches,
    )


def _page_message(page: dict[str, Any]) -> PageMessage:
    return PageMessage(
        user=str(page["user"]),
        channel=str(page.get("channel") or ""),
        ts=str(page.get("ts") or ""),
        step=str(page.get("step") or ""),
        group=page.get("group") if isinstance(page.get("group"), int) else None,
    )


def _group(row: PageGroupRow) -> PageGroup:
    return PageGroup(
        id=row.id,
        user=row.user_id,
        channel=row.channel_id,
        ts=row.ts,
        opened_at=row.opened_at,
        version=row.version,
        rendered_version=row.rendered_version,
        closed=row.closed,
        entries=tuple(GroupEntry(**entry) for entry in row.entries),
    )


FRONT = dt.timedelta(days=1)
_GROUP_LOCK_SPACE = 0x48435047  # "HCPG": the advisory-lock key space of page grouping
# What queues a group's delivery: (group id, its version) → the outbox effect.
Deliver = Callable[[int, int], Effect]


def _value_columns(values: EscalationValues) -> dict[str, Any]:
    """The state whole and the columns queries need, by column name."""
    return {
        "state": values.state,
        "next_due": values.next_due,
        "started_at": values.started_at,
        "ack_due": values.ack_due,
        "resolve_due": values.resolve_due,
        "acknowledged_at": values.acknowledged_at,
        "acknowledged_by": values.acknowledged_by,
        "resolved_at": values.resolved_at,
    }


def _copy_values(row: EscalationRow, values: EscalationValues) -> None:
    """Store the state whole and the columns queries need."""
    for column, value in _value_columns(values).items():
        setattr(row, column, value)


# Claims per INSERT: three parameters each, far below SQLite's 32,766 and PostgreSQL's 65,535.
CLAIM_CHUNK = 500


def _is_plain(row: EscalationRow, update: Update) -> bool:
    """Tell whether a change touches the escalation row alone (no feedback mirror, no audit)."""
    newly_acknowledged = update.values.acknowledged_at is not None and row.acknowledged_at is None
    return not (update.restart or update.audit or newly_acknowledged)


def _plain_params(row: EscalationRow, update: Update) -> dict[str, Any]:
    """A tick's change of one row as bulk-UPDATE parameters (what `_apply` writes for it)."""
    params: dict[str, Any] = {"id": row.id, **_value_columns(update.values)}
    if update.breach:
        params["breaches"] = row.breaches + 1
        params["sla_breached_at"] = update.values.resolve_due
    return params


@dataclass(frozen=True)
class Advanced:
    """What one set-based pass over due escalations did."""

    examined: int  # due rows locked by this run (rows another replica holds are skipped)
    changed: int  # of those, rows whose state moved
    won: int  # step claims this run won: the pages it queued


JOB_RUN_TABLE = cast(Table, JobRunRow.__table__)


def _claim_all(session: Session, claims: Sequence[Claim], now: dt.datetime) -> list[Claim]:
    """Claim many `(job, slot)`s in a statement per chunk; return the claims this run won."""
    won: set[tuple[str, str]] = set()
    for start in range(0, len(claims), CLAIM_CHUNK):
        chunk = claims[start : start + CLAIM_CHUNK]
        values = [{"job": c.job[:100], "slot": c.slot[:100], "claimed_at": now} for c in chunk]
        statement = (
            dialect_insert(session, JOB_RUN_TABLE)
            .values(values)
            .on_conflict_do_nothing()
            .returning(JobRunRow.job, JobRunRow.slot)
        )
        won |= {(str(row[0]), str(row[1])) for row in session.execute(statement)}
    return [claim for claim in claims if (claim.job[:100], claim.slot[:100]) in won]


class EscalationRepository:
    """Stores escalations and applies the service's decisions under a row lock."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def start(
        self, item: ItemRef, severity: str, values: EscalationValues, now: dt.datetime
    ) -> int | None:
        """Store a new escalation; None when the item escalates already (started elsewhere)."""
        row = EscalationRow(
            item_kind=item.kind.value,
            item_id=item.id,
            generation=1,
            severity=severity,
            breaches=0,
            paged=[],
            pages=[],
        )
        _copy_values(row, values)
        try:
            with self._sessions.begin() as session:
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            return None

    def get(self, item: ItemRef) -> StoredEscalation | None:
        """The item's escalation, if it has one."""
        with self._sessions() as session:
            row = session.scalar(
                select(EscalationRow).where(
                    EscalationRow.item_kind == item.kind.value, EscalationRow.item_id == item.id
                )
            )
            return _record(row) if row else None

    def by_ids(self, escalation_ids: Collection[int]) -> dict[int, StoredEscalation]:
        """The escalations with these ids (the ones that exist), in one query.

        Only the columns a record is made of: a burst's page and mention batches read two
        hundred at a time, and whole rows (SLA clocks, ORM identity) cost several times more.
        """
        with self._sessions() as session:
            rows = session.execute(
                select(*_RECORD_COLUMNS).where(among(session, EscalationRow.id, escalation_ids))
            )
            return {row.id: _record(row) for row in rows}

    def by_id(self, escalation_id: int) -> StoredEscalation | None:
        """One escalation by its id."""
        with self._sessions() as session:
            row = session.get(EscalationRow, escalation_id)
            return _record(row) if row else None

    def next_due(self) -> dt.datetime | None:
        """The earliest time any escalation has a step falling due (an index read)."""
        with self._sessions() as session:
            return session.scalar(select(func.min(EscalationRow.next_due)))

    def advance_due(
        self,
        now: dt.datetime,
        limit: int,
        decide: Callable[[StoredEscalation], Update | None],
    ) -> Advanced:
        """Hand out the steps of up to `limit` due escalations in a fixed number of statements.

        One `SELECT … FOR UPDATE SKIP LOCKED` locks the most overdue rows no other replica
        holds, `decide` (pure) says what each changes, one `INSERT … ON CONFLICT DO NOTHING
        RETURNING` per 500 claims tells which steps this run won, the won steps' pages are
        queued in two statements, and the changed rows are written back in one batch.
        """
        with self._sessions.begin() as session:
            rows = session.scalars(
                select(EscalationRow)
                .where(EscalationRow.next_due <= now)
                .order_by(EscalationRow.next_due, EscalationRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            updates = [(row, update) for row in rows if (update := decide(_record(row)))]
            claims = [claim for _, update in updates for claim in update.claims]
            won = _claim_all(session, claims, now)
            effects = [(effect, now) for claim in won for effect in claim.effects]
            effects += [(effect, now) for _, update in updates for effect in update.effects]
            queue_effects_due(session, effects, now)
            plain = [(row, u) for row, u in updates if _is_plain(row, u)]
            for row, update in updates:
                if not _is_plain(row, update):  # never from a tick, but handled in full if so
                    self._apply(session, row, update, now)
            if plain:  # one executemany: ORM bulk UPDATE by primary key
                session.execute(sql_update(EscalationRow), [_plain_params(r, u) for r, u in plain])
            return Advanced(len(rows), len(updates), len(won))

    def finished_items(self) -> list[tuple[int, dt.datetime | None]]:
        """Unresolved escalations whose item is over (feedback resolved, alert resolved)."""
        feedback = (
            select(EscalationRow.id, FeedbackRow.resolved_at)
            .join(FeedbackRow, FeedbackRow.id == EscalationRow.item_id)
            .where(
                EscalationRow.item_kind == ItemKind.FEEDBACK.value,
                EscalationRow.resolved_at.is_(None),
                FeedbackRow.resolved_at.is_not(None),
            )
        )
        alerts = (
            select(EscalationRow.id, AlertRow.resolved_at)
            .join(AlertRow, AlertRow.id == EscalationRow.item_id)
            .where(
                EscalationRow.item_kind == ItemKind.ALERT.value,
                EscalationRow.resolved_at.is_(None),
                AlertRow.resolved_at.is_not(None),
            )
        )
        with self._sessions() as session:
            rows = session.execute(union_all(feedback, alerts)).all()
            return [(int(row[0]), row[1]) for row in rows]

    def change(
        self,
        escalation_id: int,
        now: dt.datetime,
        decide: Callable[[StoredEscalation], Update | None],
        *,
        skip_locked: bool = False,
    ) -> tuple[Update, int] | None:
        """Lock the row, let `decide` say what changes, and apply it in the same transaction.

        Returns the update and how many claims this run won, or None when nothing changed
        (`decide` said so, the row is gone, or, with `skip_locked`, another replica holds it).
        """
        with self._sessions.begin() as session:
            row = session.scalar(
                select(EscalationRow)
                .where(EscalationRow.id == escalation_id)
                .with_for_update(skip_locked=skip_locked)
            )
            if row is None:
                return None
            before = _record(row)
            update = decide(before)
            if update is None:
                return None
            won = _claim_all(session, update.claims, now)
            queue_effects(session, [e for claim in won for e in claim.effects], now)
            queue_effects(session, update.effects, now)
            self._apply(session, row, update, now)
            return update, len(won)

    def _apply(
        self,
        session: Session,
        row: EscalationRow,
        update: Update,
        now: dt.datetime,
    ) -> None:
        values = update.values
        if update.restart:
            row.generation += 1
            row.paged, row.pages = [], []
        if update.breach:
            row.breaches += 1
            row.sla_breached_at = values.resolve_due
        acknowledged = values.acknowledged_at is not None and row.acknowledged_at is None
        _copy_values(row, values)
        if row.item_kind == ItemKind.FEEDBACK.value:
            self._mirror_on_feedback(session, row, acknowledged, update, now)

    def _mirror_on_feedback(
        self,
        session: Session,
        row: EscalationRow,
        acknowledged: bool,
        update: Update,
        now: dt.datetime,
    ) -> None:
        """Copy acknowledgements onto the feedback (its receipt shows them) and audit."""
        values = update.values
        if not (update.restart or acknowledged or update.audit):
            return  # a plain tick: nothing on the feedback changes, so it is not even locked
        feedback = session.get(FeedbackRow, row.item_id, with_for_update=True)
        if feedback is None:
            return
        if update.restart:
            feedback.acknowledged_by = feedback.acknowledged_at = None
            if feedback.state == FeedbackState.RESOLVED.value:  # a lead re-opened it
                feedback.state = (
                    FeedbackState.TICKETED.value if feedback.ticket_key else FeedbackState.NEW.value
                )
                feedback.resolved_at = None
            feedback.updated_at = now
        elif acknowledged:
            feedback.acknowledged_by = values.acknowledged_by
            feedback.acknowledged_at = values.acknowledged_at
            if feedback.state == FeedbackState.NEW.value:
                feedback.state = FeedbackState.ACKNOWLEDGED.value
            feedback.updated_at = now
        if update.audit is not None:
            actor, action, detail = update.audit
            session.add(
                AuditRow(
                    feedback_id=row.item_id, actor_id=actor, action=action, detail=detail, at=now
                )
            )

    def record_page(self, escalation_id: int, page: PageMessage) -> StoredEscalation | None:
        """Remember a page DM, so an acknowledgement can update it; return the escalation now."""
        with self._sessions.begin() as session:
            row = session.get(EscalationRow, escalation_id, with_for_update=True)
            if row is None:
                return None
            sent = {"user": page.user, "channel": page.channel, "ts": page.ts, "step": page.step}
            row.pages = [*row.pages, sent]
            if page.user not in row.paged:
                row.paged = [*row.paged, page.user]
            session.flush()
            return _record(row)

    # -- grouped page DMs ------------------------------------------------------------------------

    def add_to_group(
        self,
        escalation_id: int,
        user: str,
        entry: GroupEntry,
        now: dt.datetime,
        *,
        window: dt.timedelta,
        capacity: int,
        deliver: Deliver,
    ) -> int | None:
        """Put one step's page into the person's open page DM (or a new one); see `add_pages`."""
        addition = GroupAddition(escalation_id, user, entry)
        [group_id] = self.add_pages(
            [addition], now, window=window, capacity=capacity, deliver=deliver
        )
        return group_id

    def add_pages(
        self,
        additions: Sequence[GroupAddition],
        now: dt.datetime,
        *,
        window: dt.timedelta,
        capacity: int,
        deliver: Deliver,
    ) -> list[int | None]:
        """Put steps' pages into their people's open page DMs (or new ones), in one transaction.

        A DM is open while younger than `window`, holding fewer than `capacity` pages and not
        closed. Each escalation records its person as paged for the step (a retried page skips
        them), and each DM touched gets one delivery queued unless one is queued already.
        Returns each addition's group id, or None where the escalation is gone. A burst's
        thousand pages are a handful of statements per person, not a transaction per page.
        """
        if not additions:
            return []
        with self._sessions.begin() as session:
            # Escalations first, then people, each in a fixed order: a single page takes the same
            # locks in the same order, so concurrent batches and pages never deadlock. Only the
            # two columns a page changes are read, and written back in one executemany: whole
            # ORM rows and their unit-of-work flush cost several times more at a burst's size.
            wanted = sorted({addition.escalation_id for addition in additions})
            marks: dict[int, tuple[list[Any], list[Any]]] = {
                row.id: (list(row.pages), list(row.paged))
                for row in session.execute(
                    select(EscalationRow.id, EscalationRow.pages, EscalationRow.paged)
                    .where(among(session, EscalationRow.id, wanted))
                    .order_by(EscalationRow.id)
                    .with_for_update()
                )
            }
            people = sorted({addition.user for addition in additions})
            if session.get_bind().dialect.name == "postgresql":
                # One person's pages are grouped one at a time, or two concurrent pages would
                # each find no open DM and open one each (SQLite's one writer does this anyway).
                for user in people:
                    session.execute(
                        text("SELECT pg_advisory_xact_lock(:space, hashtext(:user))"),
                        {"space": _GROUP_LOCK_SPACE, "user": user},
                    )
            groups = {user: self._open_group(session, user, now, window) for user in people}
            touched: dict[int, PageGroupRow] = {}
            placed: list[int | None] = []
            for addition in additions:
                if addition.escalation_id not in marks:
                    placed.append(None)
                    continue
                pages, paged = marks[addition.escalation_id]
                group = groups[addition.user]
                # A later step of an item already on the DM (a repeat round, a lead's
                # re-escalation) must notify again: an in-place update of a DM is silent.
                again = group is not None and any(
                    held.get("escalation_id") == addition.escalation_id for held in group.entries
                )
                if group is None or again or len(group.entries) >= capacity:
                    group = PageGroupRow(
                        user_id=addition.user,
                        opened_at=now,
                        version=0,
                        rendered_version=0,
                        delivery_pending=False,
                        closed=False,
                        entries=[],
                    )
                    session.add(group)
                    session.flush()
                    groups[addition.user] = group
                group.entries = [*group.entries, asdict(addition.entry)]
                group.version += 1
                touched[group.id] = group
                pages.append(
                    {
                        "user": addition.user,
                        "channel": "",
                        "ts": "",
                        "step": addition.entry.step,
                        "group": group.id,
                    }
                )
                if addition.user not in paged:
                    paged.append(addition.user)
                placed.append(group.id)
            changed = [
                {"id": escalation_id, "pages": pages, "paged": paged}
                for escalation_id, (pages, paged) in marks.items()
            ]
            if changed:  # an ORM bulk UPDATE by primary key: one executemany
                session.execute(sql_update(EscalationRow), changed)
            self._queue_deliveries(session, list(touched.values()), now, deliver)
            return placed

    @staticmethod
    def _open_group(
        session: Session, user: str, now: dt.datetime, window: dt.timedelta
    ) -> PageGroupRow | None:
        """The person's newest page DM still open to more pages, if any."""
        return session.scalars(
            select(PageGroupRow)
            .where(
                PageGroupRow.user_id == user,
                PageGroupRow.closed.is_(False),
                PageGroupRow.opened_at >= now - window,
            )
            .order_by(PageGroupRow.opened_at.desc(), PageGroupRow.id.desc())
            .limit(1)
            .with_for_update()
        ).first()

    @staticmethod
    def _queue_deliveries(
        session: Session, groups: Sequence[PageGroupRow], now: dt.datetime, deliver: Deliver
    ) -> None:
        """Queue one delivery for each group that has none queued, in one insert."""
        waiting = [group for group in groups if not group.delivery_pending]
        for group in waiting:  # one queued delivery shows every change made until it
            group.delivery_pending = True
        # Ahead of everything queued: a person is waiting for it, and in a burst a thousand
        # page rows due earlier would otherwise all run before the first DM went out.
        effects = [deliver(group.id, group.version) for group in waiting]
        queue_effects(session, effects, now, due=now - FRONT)

    def take_group(self, group_id: int, now: dt.datetime) -> PageGroup | None:
        """Read a group to deliver it; changes made from now on queue another delivery.

        A group not posted yet is marked as being posted; if it was marked already, an
        earlier try may have posted it and died before recording it (`maybe_posted`).
        """
        with self._sessions.begin() as session:
            row = session.get(PageGroupRow, group_id, with_for_update=True)
            if row is None:
                return None
            row.delivery_pending = False
            maybe_posted = row.ts is None and row.post_started_at is not None
            if row.ts is None:
                row.post_started_at = now
            return replace(_group(row), maybe_posted=maybe_posted)

    def group(self, group_id: int) -> PageGroup | None:
        """One grouped page DM."""
        with self._sessions() as session:
            row = session.get(PageGroupRow, group_id)
            return _group(row) if row else None

    def group_delivered(
        self,
        group_id: int,
        version: int,
        posted: tuple[str, str] | None,
        *,
        close: bool,
    ) -> bool:
        """Record that Slack shows `version` (and where, when first posted); close it if asked.

        Returns True when a newer version was shown meanwhile (another replica's delivery
        overtook this one, which may then have overwritten it): the caller shows it again.
        """
        with self._sessions.begin() as session:
            row = session.get(PageGroupRow, group_id, with_for_update=True)
            if row is None:
                return False
            if posted is not None and row.ts is None:
                row.channel_id, row.ts = posted
            overtaken = row.rendered_version > version
            row.rendered_version = max(row.rendered_version, version)
            row.closed = row.closed or close
            return overtaken

    def change_group(self, group_id: int, now: dt.datetime, deliver: Deliver) -> None:
        """Mark a group changed (an item on it was acknowledged): queue its re-render."""
        with self._sessions.begin() as session:
            row = session.get(PageGroupRow, group_id, with_for_update=True)
            if row is None:
                return
            row.version += 1
            self._queue_deliveries(session, [row], now, deliver)

    def close_group(self, group_id: int) -> None:
        """Open no new pages into this DM (Slack refused it, or everything on it was taken)."""
        with self._sessions.begin() as session:
            row = session.get(PageGroupRow, group_id, with_for_update=True)
            if row is not None:
                row.closed = True
