"""Sending pages: who a step reaches, the DM and thread mention, and the missing-person report.

A due step is one outbox row (`escalation.page`). Page rows are carried out a claimed batch at
a time: one load of their escalations and items, one transaction that puts every page into its
person's grouped page DM (whose delivery is queued ahead of everything else), and a thread
mention per step queued as its own row (`escalation.mention`, also batched), so in a burst the
DMs reach people before the thousand thread mentions are posted. A Slack outage delays a page
and never loses it; a retry skips the people already reached. Each send re-checks the
escalation first: once someone acknowledged (or the item is over), a page still in the queue is
dropped, so an acknowledgement racing a step wins. `escalation.dm` rows are still carried out
for queues an older version left behind. People who cannot be reached (nobody on call, no Slack
user for an e-mail, a deactivated account, a DM Slack refuses) are logged, reported to the
admins, and, when nobody else was reached by the step, skipped: the next step is pulled forward
to now.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import cast

from bot.config import Program
from bot.domain import (
    Effect,
    EscalatingItem,
    GroupEntry,
    ItemKind,
    ItemRef,
    NoteKind,
    Page,
    PageGroup,
    PageMessage,
)
from bot.errors import DeliveryDeferred, DeliveryRefused
from bot.escalation.model import EscalationRecord
from bot.escalation.service import PAGE, START, EscalationService
from bot.oncall.program import StepKind
from bot.oncall.rota import OnCallNow
from bot.parts import BatchHandler, OutboxHandler, Outcome
from bot.ports import Clock, Pager
from bot.tickets.subjects import NOTE, REFRESH_RECEIPT
from storage.escalations import EscalationRepository, GroupAddition

log = logging.getLogger(__name__)

DM = "escalation.dm"
MENTION = "escalation.mention"
MISSING = "escalation.missing"
SKIP = "escalation.skip"
UPDATE_PAGES = "escalation.update_pages"
DELIVER = "escalation.deliver_group"
# Pages one grouped DM holds: with a header, *Acknowledge all* and a footer, within Slack's 50
# blocks per message; a longer burst opens the next DM.
GROUP_CAPACITY = 40
# Thread mentions of a batch in flight at once. They share the pooled Slack connections with
# the rest of the outbox; a few in parallel hide the round trips without crowding Slack.
MENTION_CONCURRENCY = 4

_ROLES = {
    StepKind.NOTIFY_PRIMARY: "primary on-call",
    StepKind.NOTIFY_SECONDARY: "secondary on-call",
    StepKind.NOTIFY_LEADS: "lead",
    StepKind.NOTIFY_GROUP: "user group",
    StepKind.NOTIFY_CHANNEL: "channel",
}


@dataclass(frozen=True)
class Targets:
    """Who one step reaches: people to DM, special mentions, and the people it could not."""

    users: tuple[str, ...]
    special: str | None  # "<!here>" or a user group mention
    missing: tuple[tuple[str, str], ...]  # (person, reason)


class PageSender:
    """Carries out the escalation effects the outbox worker hands over."""

    def __init__(
        self,
        *,
        program: Program,
        service: EscalationService,
        repo: EscalationRepository,
        pager: Pager,
        clock: Clock,
        on_call: Callable[[], OnCallNow | None],
    ) -> None:
        self._program = program
        self._service = service
        self._repo = repo
        self._pager = pager
        self._clock = clock
        self._on_call = on_call
        self._mentions = ThreadPoolExecutor(MENTION_CONCURRENCY, thread_name_prefix="mentions")
        # Channels Slack rate-limited, and when (monotonic) their Retry-After runs out: later
        # batches hold their mentions there too instead of each meeting the limit again.
        self._held: dict[str, float] = {}
        self._held_lock = threading.Lock()

    def handlers(self) -> dict[str, OutboxHandler]:
        """Map outbox kinds to the methods that carry them out, row by row."""
        return {
            DM: self.direct_message,
            MISSING: self.report_missing,
            SKIP: self.skip,
            UPDATE_PAGES: self.update_pages,
            DELIVER: self.deliver_group,
        }

    def batch_handlers(self) -> dict[str, BatchHandler]:
        """Map the kinds a burst brings by the thousand to methods that take a batch."""
        return {
            START: self._service.start_many,
            PAGE: self.page_many,
            MENTION: self.mention_many,
        }

    def first_kinds(self) -> frozenset[str]:
        """From a report to its page DM: starting the escalation, planning the page, sending
        the DM (a lone page or a person's grouped one)."""
        return frozenset({START, PAGE, DELIVER, DM})

    def bulk_kinds(self) -> frozenset[str]:
        """The batch kinds that only touch the database: starting escalations and planning
        pages (who is paged, which DM they join); the Slack calls they queue are rows of
        their own."""
        return frozenset({START, PAGE})

    # -- loading -----------------------------------------------------------------------------

    def _load(
        self, payloads: Sequence[dict[str, object]]
    ) -> tuple[dict[int, EscalationRecord], dict[ItemRef, EscalatingItem]]:
        """The escalations and items a batch of payloads names, in a query or two each."""
        ids = {p["escalation_id"] for p in payloads if isinstance(p.get("escalation_id"), int)}
        records = self._service.by_ids(cast(set[int], ids))
        items = self._service.items({record.item for record in records.values()})
        return records, items

    def _current(
        self, payload: dict[str, object]
    ) -> tuple[EscalationRecord, EscalatingItem] | None:
        """The escalation and item, or None when the page must not go out any more."""
        return self._current_in(payload, *self._load([payload]))

    @staticmethod
    def _current_in(
        payload: dict[str, object],
        records: dict[int, EscalationRecord],
        items: dict[ItemRef, EscalatingItem],
    ) -> tuple[EscalationRecord, EscalatingItem] | None:
        """`_current`, looked up in what a batch loaded."""
        escalation_id = payload.get("escalation_id")
        record = records.get(escalation_id) if isinstance(escalation_id, int) else None
        if record is None:
            raise DeliveryRefused(f"escalation {escalation_id!r} does not exist")
        item = items.get(record.item)
        if item is None:
            raise DeliveryRefused(f"{record.item} does not exist")
        state = record.state
        if record.generation != payload.get("generation"):
            return None  # a lead restarted the climb: pages of the old one are void
        if state.resolved_at is not None or item.resolved_at is not None:
            return None
        if not payload.get("sla_breached") and state.acknowledged_at is not None:
            return None  # acknowledged: the climb stopped (the SLA-breach round still goes)
        return record, item

    def _page(
        self, record: EscalationRecord, item: EscalatingItem, payload: dict[str, object], role: str
    ) -> Page:
        state = record.state
        return Page(
            item=item,
            severity_label=self._program.severity(item.severity).label
            if item.severity in {s.id for s in self._program.severities}
            else item.severity,
            role=role,
            round=int(str(payload.get("round") or 0)),
            rounds=state.snapshot.policy.rounds,
            sla_breached=bool(payload.get("sla_breached")),
            escalating_since=state.started_at,
            acknowledged_by=state.acknowledged_by,
            acknowledged_at=state.acknowledged_at,
        )

    # -- a step ------------------------------------------------------------------------------

    def page(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Carry out one due step (see `page_many`)."""
        [outcome] = self.page_many([payload])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def page_many(self, payloads: Sequence[dict[str, object]]) -> list[Outcome]:
        """Carry out due steps: put each person's page into their grouped page DM, queue the
        mention in the item's thread, report whom a step could not reach, and skip to the next
        step when it reached nobody.

        The pages of the whole batch go into their DMs in one transaction, recorded with their
        steps, so a retry pages nobody twice; each DM touched gets its delivery queued ahead of
        everything else, and the mentions follow as their own rows.
        """
        records, items = self._load(payloads)
        on_call = _Once(self._on_call)
        window = self._group_window()
        outcomes: list[Outcome] = []
        additions: list[GroupAddition] = []
        for payload in payloads:
            outcome: Outcome
            try:
                outcome = self._plan_page(payload, records, items, on_call, additions)
            except Exception as exc:  # this row alone: a bad payload, a refused look-up
                outcome = exc
            outcomes.append(outcome)
        if additions:
            self._repo.add_pages(
                additions,
                self._clock(),
                window=window,
                capacity=GROUP_CAPACITY if window else 1,
                deliver=deliver_effect,
            )
        return outcomes

    def _plan_page(
        self,
        payload: dict[str, object],
        records: dict[int, EscalationRecord],
        items: dict[ItemRef, EscalatingItem],
        on_call: _Once,
        additions: list[GroupAddition],
    ) -> Sequence[Effect]:
        """What one due step does: the pages it adds (to `additions`) and the rows it queues."""
        current = self._current_in(payload, records, items)
        if current is None:
            log.info("escalation step dropped: acknowledged, resolved or restarted meanwhile")
            return []
        record, _ = current
        kind = StepKind(str(payload["step"]))
        targets = self._targets(kind, payload.get("group"), on_call)
        claim = f"{record.id}:{record.generation}:{payload['round']}:{payload['step_index']}"
        base = {**payload, "role": _ROLES[kind]}
        follow: list[Effect] = []
        reached = {message.user for message in record.pages if message.step == claim}
        sole = len(targets.users) == 1 and not targets.special
        entry = GroupEntry(
            escalation_id=record.id,
            generation=record.generation,
            step=claim,
            role=_ROLES[kind],
            round=int(str(payload.get("round") or 0)),
            sla_breached=bool(payload.get("sla_breached")),
            sole=sole,
        )
        for user in targets.users:
            if user not in reached:  # a retry skips the people this step reached already
                additions.append(GroupAddition(record.id, user, entry))
        if targets.users or targets.special:
            mentions = [f"<@{user}>" for user in targets.users]
            if targets.special:
                mentions.append(targets.special)
            broadcast = kind is StepKind.NOTIFY_CHANNEL
            mention = {**base, "mentions": mentions, "broadcast": broadcast}
            follow.append(Effect(MENTION, mention, f"{MENTION}:{claim}", ahead=False))
        for person, reason in targets.missing:
            log.warning("escalation of %s: %s not paged: %s", record.item, person, reason)
            follow.append(self._missing(base, claim, person, reason))
        if not targets.users and not targets.special:
            follow.append(Effect(SKIP, base, f"{SKIP}:{claim}"))
        # The people paged may acknowledge once their DM is sent (`record_page`); until then
        # they are on call or leads, who may anyway.
        return follow

    @staticmethod
    def _missing(
        base: dict[str, object], claim: str, person: str, reason: str, key: str | None = None
    ) -> Effect:
        payload = {**base, "person": person, "reason": reason}
        return Effect(MISSING, payload, f"{MISSING}:{claim}:{key or person}")

    def _group_window(self) -> dt.timedelta:
        escalation = self._program.escalation
        return dt.timedelta(seconds=escalation.group_pages_within if escalation else 0)

    def _targets(self, kind: StepKind, group: object, on_call: _Once) -> Targets:
        if kind is StepKind.NOTIFY_CHANNEL:
            return Targets((), "<!here>", ())
        if kind is StepKind.NOTIFY_GROUP:
            return Targets((), f"<!subteam^{group}>", ())
        if kind is StepKind.NOTIFY_LEADS:
            return self._people(self._program.roles.leads, "lead")
        now = on_call()
        person = None
        rota = ""
        if now is not None and self._program.oncall is not None:
            primary = kind is StepKind.NOTIFY_PRIMARY
            person = now.primary if primary else now.secondary
            rota = (
                self._program.oncall.primary if primary else (self._program.oncall.secondary or "")
            )
        if person is None:
            return Targets((), None, ((f"rota {rota or '?'}", "nobody is on call right now"),))
        return self._people([person], _ROLES[kind])

    def _people(self, people: Sequence[str], role: str) -> Targets:
        users: list[str] = []
        missing: list[tuple[str, str]] = []
        for person in people:
            if "@" not in person:
                users.append(person)
                continue
            user = self._pager.user_for_email(person)
            if user is None:
                missing.append((person, "no active Slack user has this e-mail"))
            else:
                users.append(user)
        if not people:
            missing.append((role, "nobody is listed"))
        return Targets(tuple(dict.fromkeys(users)), None, tuple(missing))

    # -- the sends ---------------------------------------------------------------------------

    def direct_message(self, payload: dict[str, object]) -> Sequence[Effect]:
        """DM one person; a refusal is reported, and skips the step if they were its only one."""
        current = self._current(payload)
        if current is None:
            return []
        record, item = current
        user = str(payload["user"])
        page = self._page(record, item, payload, str(payload.get("role") or ""))
        try:
            posted = self._pager.page_person(user, page)
        except DeliveryRefused as refused:
            log.warning("escalation of %s: DM to %s refused: %s", record.item, user, refused.reason)
            claim = f"{record.id}:{record.generation}:{payload['round']}:{payload['step_index']}"
            then = [
                Effect(
                    MISSING,
                    {**payload, "person": f"<@{user}>", "reason": refused.reason},
                    f"{MISSING}:{claim}:{user}",
                )
            ]
            if payload.get("sole"):
                then.append(Effect(SKIP, payload, f"{SKIP}:{claim}"))
            raise DeliveryRefused(refused.reason, then=then) from None
        message = PageMessage(user, posted.channel_id, posted.ts)
        self._repo.record_page(record.id, message)
        latest = self._service.by_id(record.id)
        if latest is not None and latest.state.acknowledged_at is not None:
            # Acknowledged while this DM was on its way: show it at once.
            self._pager.update_page(message, self._page(latest, item, payload, page.role))
        return []

    def mention_many(self, payloads: Sequence[dict[str, object]]) -> list[Outcome]:
        """Mention each step's people in its item's thread, a few threads at a time.

        The mentions go to different threads and need no order among them, so they go out
        concurrently (a burst's thousand would otherwise wait for each other's round trip).
        Once Slack answers one with a rate limit, the channel's other mentions (of this batch
        and of later ones) wait for its Retry-After without trying: Slack limits per channel.
        """
        records, items = self._load(payloads)

        def mention(payload: dict[str, object]) -> Outcome:
            try:
                return self._mention(payload, records, items)
            except Exception as exc:  # DeliveryDeferred included: the worker retries it
                return exc

        if len(payloads) == 1:
            return [mention(payloads[0])]
        return list(self._mentions.map(mention, payloads))

    def close(self) -> None:
        """Let the mention threads go (at stop)."""
        self._mentions.shutdown(wait=False, cancel_futures=True)

    def _mention(
        self,
        payload: dict[str, object],
        records: dict[int, EscalationRecord],
        items: dict[ItemRef, EscalatingItem],
    ) -> Sequence[Effect]:
        current = self._current_in(payload, records, items)
        if current is None:
            return []
        record, item = current
        if item.thread_ts is None:
            raise DeliveryDeferred("the item's message is not posted yet", 1.0, waiting=True)
        raw = payload.get("mentions")
        mentions = [str(m) for m in raw] if isinstance(raw, list) else []
        page = self._page(record, item, payload, str(payload.get("role") or ""))
        with self._held_lock:
            left = self._held.get(item.channel_id, 0.0) - time.monotonic()
        if left > 0:
            raise DeliveryDeferred(f"{item.channel_id} is rate limited for {left:.1f}s more", left)
        try:
            self._pager.page_in_thread(page, mentions, bool(payload.get("broadcast")))
        except DeliveryDeferred as deferred:
            if deferred.retry_after is not None and not deferred.waiting:
                until = time.monotonic() + deferred.retry_after
                with self._held_lock:
                    self._held[item.channel_id] = max(until, self._held.get(item.channel_id, 0))
            raise
        return []

    def report_missing(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Tell the admins (else the team channel) that someone could not be paged."""
        escalation_id = payload.get("escalation_id")
        record = self._service.by_id(escalation_id) if isinstance(escalation_id, int) else None
        item = self._service.item(record.item) if record else None
        if record is None or item is None:
            return []
        admins = self._program.roles.admins
        to = list(admins) or [self._program.channels.team or self._program.channels.feedback]
        page = self._page(record, item, payload, str(payload.get("role") or ""))
        self._pager.report_missing(to, page, str(payload.get("person")), str(payload.get("reason")))
        return []

    def skip(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Pull the next step of the climb forward: this one reached nobody."""
        escalation_id, generation = payload.get("escalation_id"), payload.get("generation")
        round_, index = payload.get("round"), payload.get("step_index")
        if not all(isinstance(v, int) for v in (escalation_id, generation, round_, index)):
            raise DeliveryRefused(f"malformed skip payload: {payload!r}")
        assert isinstance(escalation_id, int) and isinstance(generation, int)
        assert isinstance(round_, int) and isinstance(index, int)
        self._service.skip(escalation_id, generation, round_, index)
        return []

    def update_pages(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Show on every page DM that the item was acknowledged, and by whom."""
        escalation_id = payload.get("escalation_id")
        record = self._service.by_id(escalation_id) if isinstance(escalation_id, int) else None
        item = self._service.item(record.item) if record else None
        if record is None or item is None:
            return []
        groups = {message.group for message in record.pages if message.group is not None}
        for group_id in sorted(groups):  # grouped DMs are re-rendered whole by their delivery
            self._repo.change_group(group_id, self._clock(), deliver_effect)
        for message in record.pages:
            if message.group is None:  # a lone page DM an older version sent
                self._pager.update_page(message, self._page(record, item, {"round": 0}, ""))
        return []

    def deliver_group(self, payload: dict[str, object]) -> Sequence[Effect]:
        """Send a person's grouped page DM, or update it to show what changed since.

        It shows every page of the window, the taken ones marked; it is first posted only if a
        page on it still needs someone (a burst acknowledged before its DM went out sends none).
        If Slack refuses the DM, each page on it is reported and a step it was the only target
        of moves on, as for a lone page.
        """
        group_id = payload.get("page_group_id")
        group = (
            self._repo.take_group(group_id, self._clock()) if isinstance(group_id, int) else None
        )
        if group is None:
            return []
        pages = self._group_pages(group)
        waiting = [page for page, live in pages if live]
        shown = [page for page, _ in pages]
        if (group.ts is None or group.channel is None) and group.maybe_posted:
            # An earlier try began posting and died before recording it: adopt its DM if it
            # went out, rather than send the person a second one.
            found = self._pager.find_group(group.user, group.id)
            if found is not None:
                log.info("page DM of group %s found in Slack: adopted", group.id)
                group = replace(group, channel=found.channel_id, ts=found.ts)
                self._repo.group_delivered(group.id, 0, (found.channel_id, found.ts), close=False)
        if group.ts is None or group.channel is None:
            if not waiting:
                self._repo.close_group(group.id)
                return []
            try:
                posted = self._pager.post_group(group.user, group.id, shown)
            except DeliveryRefused as refused:
                log.warning(
                    "page DM to %s refused (%s pages): %s", group.user, len(shown), refused.reason
                )
                self._repo.close_group(group.id)
                raise DeliveryRefused(refused.reason, then=self._refused(group, refused)) from None
            where: tuple[str, str] | None = (posted.channel_id, posted.ts)
        elif not shown:
            # Every page on it belongs to a climb a lead restarted since: the DM keeps what it
            # showed, and the restarted climb's pages go into a fresh one.
            self._repo.group_delivered(group.id, group.version, None, close=True)
            return []
        else:
            message = PageMessage(group.user, group.channel, group.ts, group=group.id)
            self._pager.update_group(message, group.id, shown)
            where = None
        overtaken = self._repo.group_delivered(group.id, group.version, where, close=not waiting)
        if overtaken:  # another replica showed a newer version first: show the newest again
            self._repo.change_group(group.id, self._clock(), deliver_effect)
        return []

    def _group_pages(self, group: PageGroup) -> list[tuple[Page, bool]]:
        """The group's pages as they stand now, each with whether it still needs someone."""
        pages: list[tuple[Page, bool]] = []
        # Two or three queries for the whole DM, not two per page on it.
        records = self._service.by_ids({entry.escalation_id for entry in group.entries})
        items = self._service.items({record.item for record in records.values()})
        for entry in group.entries:
            record = records.get(entry.escalation_id)
            item = items.get(record.item) if record else None
            if record is None or item is None or record.generation != entry.generation:
                continue  # gone, or a lead restarted the climb: its pages of before are void
            extra: dict[str, object] = {"round": entry.round, "sla_breached": entry.sla_breached}
            page = self._page(record, item, extra, entry.role)
            over = record.state.resolved_at is not None or item.resolved_at is not None
            taken = record.state.acknowledged_at is not None and not entry.sla_breached
            pages.append((page, not (over or taken)))
        return pages

    def _refused(self, group: PageGroup, refused: DeliveryRefused) -> list[Effect]:
        """What a refused page DM queues: a report per page, a skip for a step it alone had."""
        then: list[Effect] = []
        for entry in group.entries:
            escalation_id, generation, round_, index = (int(p) for p in entry.step.split(":"))
            base: dict[str, object] = {
                "escalation_id": escalation_id,
                "generation": generation,
                "round": round_,
                "step_index": index,
                "role": entry.role,
                "sla_breached": entry.sla_breached,
            }
            person = f"<@{group.user}>"
            then.append(self._missing(base, entry.step, person, refused.reason, key=group.user))
            if entry.sole:
                then.append(Effect(SKIP, base, f"{SKIP}:{entry.step}"))
        return then


def deliver_effect(group_id: int, version: int) -> Effect:
    """Queue the delivery of a grouped page DM's `version` (later changes ride along)."""
    return Effect(DELIVER, {"page_group_id": group_id}, f"{DELIVER}:{group_id}:{version}")


def acknowledged_effects(record: EscalationRecord, user: str, at: dt.datetime) -> list[Effect]:
    """What follows an acknowledgement: page DMs updated; for feedback, its receipt and thread."""
    tag = f"{record.id}:{record.generation}"
    effects = [Effect(UPDATE_PAGES, {"escalation_id": record.id}, f"{UPDATE_PAGES}:{tag}")]
    return effects + _feedback_effects(record, user, at, NoteKind.ACKNOWLEDGED)


def reescalated_effects(record: EscalationRecord, user: str, at: dt.datetime) -> list[Effect]:
    """What follows a lead's re-escalation: for feedback, its receipt (the button is back)."""
    return _feedback_effects(record, user, at, NoteKind.REESCALATED)


def _feedback_effects(
    record: EscalationRecord, user: str, at: dt.datetime, kind: NoteKind
) -> list[Effect]:
    tag = f"{kind.value}:{record.id}:{record.generation}"
    effects: list[Effect] = []
    if record.item.kind is ItemKind.FEEDBACK:
        feedback_id = record.item.id
        effects.append(
            Effect(
                REFRESH_RECEIPT,
                {"feedback_id": feedback_id},
                f"{REFRESH_RECEIPT}:{feedback_id}:{tag}",
            )
        )
        note = {
            "feedback_id": feedback_id,
            "kind": kind.value,
            "detail": "",
            "actor": user,
            "at": at.isoformat(),
        }
        effects.append(Effect(NOTE, note, f"{NOTE}:{feedback_id}:{tag}"))
    return effects


class _Once:
    """Who is on call, asked at most once per batch (a burst's pages share the answer)."""

    def __init__(self, ask: Callable[[], OnCallNow | None]) -> None:
        self._ask = ask
        self._asked = False
        self._answer: OnCallNow | None = None

    def __call__(self) -> OnCallNow | None:
        if not self._asked:
            self._answer, self._asked = self._ask(), True
        return self._answer
