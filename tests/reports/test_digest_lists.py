"""The digest's open-items and needs-a-decision lists, against the rule written out in Python.

`DigestQueries.backlog` splits the order (breached first, then per severity) into several
top-N queries; here every open row is ranked the plain way, by (breach, severity, age), and the
lists, their totals and the counts by severity must be the same, cut at any limit, on both
databases. The rows mix every case the ranking tells apart: no escalation, resolve-by passed,
acknowledge-by passed with and without an acknowledgement, not yet due, owned, unowned,
blocked, resolved, and a severity the program does not list.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import pytest

from storage import db
from storage.digest import DigestQueries
from storage.models import EscalationRow, FeedbackRow

NOW = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)
SEVERITIES = ["sev1", "sev2", "sev3", "sev4"]
ALL_SEVERITIES = [*SEVERITIES, "p0"]  # "p0" is not the program's: it ranks last


@dataclass(frozen=True)
class Item:
    """What the ranking reads of one seeded item."""

    id: int
    severity: str
    created_at: dt.datetime
    open: bool
    owned: bool
    blocked: bool
    ack_due: dt.datetime | None
    resolve_due: dt.datetime | None
    escalation_acked: bool

    def breach(self) -> int:
        if self.resolve_due is not None and self.resolve_due < NOW:
            return 0
        if self.ack_due is not None and self.ack_due < NOW and not self.escalation_acked:
            return 1
        return 2

    def key(self) -> tuple[int, int, dt.datetime]:
        rank = SEVERITIES.index(self.severity) if self.severity in SEVERITIES else len(SEVERITIES)
        return self.breach(), rank, self.created_at


def _seed(url: str, count: int) -> list[Item]:
    rng = random.Random(4)
    engine = db.make_engine(url)
    db.migrate(engine)
    items, rows, escalations = [], [], []
    for n in range(1, count + 1):
        severity = rng.choice(ALL_SEVERITIES)
        # Whole minutes, often shared, so ties on age occur; ids break nothing here, the
        # oracle and the queries must agree only where the order is defined (checked below).
        created = NOW - dt.timedelta(minutes=rng.randrange(0, 20_000))
        is_open = rng.random() < 0.7
        ticket = rng.random() < 0.4
        acked_by = "U0BOB" if rng.random() < 0.3 else None
        # Owned: a Jira assignee (by Slack user or by name) or someone who took it; a ticket
        # or an acknowledgement alone is no owner.
        owner = rng.choice([None, None, ("U0DANA", None), (None, "Dana Dev")])
        status = (
            rng.choice([None, "In Progress", "Blocked", "BLOCKED by vendor"]) if ticket else None
        )
        escalates = rng.random() < 0.5
        ack_due = resolve_due = None
        escalation_acked = False
        if escalates:
            started = created + dt.timedelta(minutes=rng.randrange(0, 600))
            ack_due = started + dt.timedelta(minutes=15)
            resolve_due = started + dt.timedelta(hours=rng.choice([4, 400]))
            escalation_acked = rng.random() < 0.5
            escalations.append(
                EscalationRow(
                    item_kind="feedback",
                    item_id=n,
                    severity=severity if severity in SEVERITIES else "sev1",
                    state={},
                    started_at=started,
                    ack_due=ack_due,
                    resolve_due=resolve_due,
                    acknowledged_at=started + dt.timedelta(minutes=5) if escalation_acked else None,
                    acknowledged_by="U0BOB" if escalation_acked else None,
                    breaches=0,
                    paged=[],
                    pages=[],
                )
            )
        rows.append(
            FeedbackRow(
                id=n,
                submission_key=f"k{n}",
                summary=f"item {n}",
                category="bug",
                severity=severity,
                component="api",
                environment="production",
                trying="t",
                expected="e",
                actual="a",
                channel_id="C0FEEDBACK",
                reporter_id="U0ALICE",
                state=rng.choice(["new", "acknowledged", "ticketed"]) if is_open else "resolved",
                created_at=created,
                updated_at=created,
                resolved_at=None if is_open else created + dt.timedelta(hours=1),
                ticket_key=f"HYP-{n}" if ticket else None,
                ticket_status=status,
                acknowledged_by=acked_by,
                owner_id=owner[0] if owner else None,
                owner_name=owner[1] if owner else None,
            )
        )
        items.append(
            Item(
                n,
                severity,
                created,
                is_open,
                owner is not None,
                status is not None and "block" in status.lower(),
                ack_due,
                resolve_due,
                escalation_acked,
            )
        )
    with db.make_sessions(engine).begin() as session:
        session.add_all(rows)
        session.flush()
        session.add_all(escalations)
    engine.dispose()
    return items


def _keys(ids: list[int], by_id: dict[int, Item]) -> list[tuple[int, int, dt.datetime]]:
    return [by_id[i].key() for i in ids]


@pytest.mark.parametrize("limit", [1, 7, 40, 1000])
def test_backlog_lists_rank_by_breach_severity_and_age(database_url: str, limit: int) -> None:
    """Each list holds the first `limit` items of the plain ranking, with the right totals."""
    items = _seed(database_url, 400)
    by_id = {item.id: item for item in items}
    queries = DigestQueries(db.make_sessions(db.make_engine(database_url)), SEVERITIES)
    backlog = queries.backlog(NOW, limit)

    open_items = sorted((i for i in items if i.open), key=Item.key)
    deciding = sorted(
        (i for i in items if i.open and (not i.owned or i.blocked or i.breach() < 2)),
        key=Item.key,
    )
    for page, expected in ((backlog.open, open_items), (backlog.needs_decision, deciding)):
        ids = [fact.id for fact in page.facts]
        assert page.total == len(expected)
        assert len(ids) == min(limit, len(expected)) == len(set(ids))
        # The same ranking keys in the same order; ties on age may come in either order.
        assert _keys(ids, by_id) == [i.key() for i in expected[:limit]]
        cut = expected[:limit]
        last = cut[-1].key() if cut else None
        assert {i.id for i in cut if i.key() != last} <= set(ids)
        assert all(by_id[i].open for i in ids)
    counts: dict[str, int] = {}
    for item in open_items:
        counts[item.severity] = counts.get(item.severity, 0) + 1
    assert backlog.open_by_severity == counts
