"""Grouped page DMs in the database: a burst's pages placed in one transaction, per person."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.domain import Effect, EscalationValues, GroupEntry, ItemKind, ItemRef
from storage import db
from storage.escalations import EscalationRepository, GroupAddition
from storage.models import OutboxRow, PageGroupRow

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(seconds=60)


def deliver(group_id: int, version: int) -> Effect:
    """The delivery effect a page DM's change queues (as the pager's is keyed)."""
    return Effect("test.deliver", {"page_group_id": group_id}, f"deliver:{group_id}:{version}")


def escalations(repo: EscalationRepository, count: int) -> list[int]:
    """Store `count` escalations of feedback items 1…count."""
    values = EscalationValues({}, T0, T0, T0, T0, None, None, None)
    ids = [
        repo.start(ItemRef(ItemKind.FEEDBACK, n), "sev1", values, T0) for n in range(1, count + 1)
    ]
    assert all(ids)
    return [i for i in ids if i is not None]


def entry(escalation_id: int, round_: int = 0) -> GroupEntry:
    """One step's page of an escalation's first generation."""
    return GroupEntry(
        escalation_id, 1, f"{escalation_id}:1:{round_}:0", "primary", round_, False, True
    )


def test_a_burst_of_pages_fills_each_persons_dms_up_to_capacity(database_url: str) -> None:
    """Eight pages for two people in one call: four to a DM, one delivery queued per DM, and
    every escalation remembers whom it paged and in which DM."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    sessions = db.make_sessions(engine)
    repo = EscalationRepository(sessions)
    ids = escalations(repo, 8)
    additions = [
        GroupAddition(i, "UPRIM" if n < 5 else "USEC", entry(i)) for n, i in enumerate(ids)
    ]
    placed = repo.add_pages(additions, T0, window=WINDOW, capacity=4, deliver=deliver)
    assert len(set(placed[:4])) == 1 and placed[4] != placed[0] and len(set(placed[5:])) == 1
    with sessions() as session:
        groups = session.scalars(select(PageGroupRow).order_by(PageGroupRow.id)).all()
        assert [(g.user_id, len(g.entries)) for g in groups] == [
            ("UPRIM", 4),
            ("UPRIM", 1),
            ("USEC", 3),
        ]
        queued = session.scalars(select(OutboxRow.idempotency_key).order_by(OutboxRow.id)).all()
    assert sorted(queued) == sorted(f"deliver:{g.id}:{g.version}" for g in groups)
    stored = repo.by_ids(ids)
    assert [stored[i].pages[0].group for i in ids] == placed
    assert list(stored[ids[0]].paged) == ["UPRIM"]


def test_a_later_step_of_an_item_on_the_dm_opens_a_new_one(database_url: str) -> None:
    """A repeat round of an item already on a person's open DM goes into a new DM (an in-place
    update would not notify), while another item still joins the open one."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    repo = EscalationRepository(db.make_sessions(engine))
    first, second = escalations(repo, 2)
    [opened] = repo.add_pages(
        [GroupAddition(first, "UPRIM", entry(first))],
        T0,
        window=WINDOW,
        capacity=40,
        deliver=deliver,
    )
    later = T0 + dt.timedelta(seconds=10)
    again, joined = repo.add_pages(
        [
            GroupAddition(first, "UPRIM", entry(first, 1)),
            GroupAddition(second, "UPRIM", entry(second)),
        ],
        later,
        window=WINDOW,
        capacity=40,
        deliver=deliver,
    )
    assert again != opened and joined == again


def test_pages_of_an_escalation_that_is_gone_are_placed_nowhere(database_url: str) -> None:
    """An addition naming no stored escalation comes back as None and opens no DM."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    sessions = db.make_sessions(engine)
    repo = EscalationRepository(sessions)
    [known] = escalations(repo, 1)
    placed = repo.add_pages(
        [
            GroupAddition(known + 99, "UPRIM", entry(known + 99)),
            GroupAddition(known, "UPRIM", entry(known)),
        ],
        T0,
        window=WINDOW,
        capacity=40,
        deliver=deliver,
    )
    assert placed[0] is None and placed[1] is not None
    with sessions() as session:
        assert len(session.scalars(select(PageGroupRow)).all()) == 1


def test_one_step_paging_two_people_records_both_on_the_escalation(database_url: str) -> None:
    """A step with two targets (two leads) in one batch: each person's DM gets the page, and the
    escalation keeps both pages and both people, once each, whatever order they came in."""
    engine = db.make_engine(database_url)
    db.migrate(engine)
    repo = EscalationRepository(db.make_sessions(engine))
    [only] = escalations(repo, 1)
    step = entry(only)
    placed = repo.add_pages(
        [GroupAddition(only, "ULEAD1", step), GroupAddition(only, "ULEAD2", step)],
        T0,
        window=WINDOW,
        capacity=40,
        deliver=deliver,
    )
    assert None not in placed and placed[0] != placed[1]
    later = repo.add_pages(
        [GroupAddition(only, "ULEAD1", entry(only, 1))],
        T0 + dt.timedelta(seconds=5),
        window=WINDOW,
        capacity=40,
        deliver=deliver,
    )
    stored = repo.by_ids([only])[only]
    assert [(page.user, page.group) for page in stored.pages] == [
        ("ULEAD1", placed[0]),
        ("ULEAD2", placed[1]),
        ("ULEAD1", later[0]),
    ]
    assert list(stored.paged) == ["ULEAD1", "ULEAD2"]
