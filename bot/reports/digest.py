"""The stand-up digest: built from the database for a period, posted once per scheduled slot.

The period runs from the previous scheduled digest to now, so nothing falls between two
digests. A scheduler job asks every minute whether a slot is due (DST-safe, in the program's
zone); the slot is claimed in the database as `(digest:daily, local date)` together with the
outbox row that posts it, so replicas and restarts post it once, and a digest missed while the
bot was down is posted once when it is back (within the grace period, marked late).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from bot.alerts.service import SilenceView
from bot.config import Program
from bot.domain import Digest, Effect, Feedback, ItemLine, KnownIssue, Section
from bot.feedback.priority import score_of
from bot.oncall.rota import OnCallNow
from bot.ports import Clock, DigestNotifier
from bot.reports.schedule import due_slot, previous_slot
from storage.digest import AlertFact, Backlog, DigestQueries, FeedbackFact
from storage.jobs import JobRuns

log = logging.getLogger(__name__)

POST_DAILY = "digest.post_daily"
DAILY_JOB = "digest:daily"
FULL_LIST = 1000  # lines of a cut section in the digest's thread
# The sections cut to `top` lines, whose full list goes to the thread (the escalations
# section lists every escalation of the period, up to 200, and is never cut).
THREADED = frozenset(
    {
        "New feedback",
        "Resolved",
        "Open items",
        "Alerts fired",
        "Alerts resolved",
        "Needs a decision",
        "Root causes due",
    }
)


def _hours(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _counts(counts: dict[str, int], order: Sequence[str]) -> str:
    known = [f"{key} {counts[key]}" for key in order if counts.get(key)]
    others = [f"{key} {n}" for key, n in sorted(counts.items()) if key not in order and n]
    return " · ".join(known + others)


class DigestService:
    """Builds digests and posts each scheduled one once."""

    def __init__(
        self,
        *,
        program: Program,
        queries: DigestQueries,
        clock: Clock,
        jobs: JobRuns | None = None,
        notifier: DigestNotifier | None = None,
        on_call: Callable[[], OnCallNow | None] = lambda: None,
        silences: Callable[[], Sequence[SilenceView]] = lambda: (),
        short_id: Callable[[int], str] = str,
        on_enqueued: Callable[[], None] = lambda: None,
        known: Callable[[int, dt.datetime], Sequence[KnownIssue]] = lambda limit, since: (),
        missing_root_causes: Callable[
            [Sequence[str], dt.datetime, int], Sequence[Feedback]
        ] = lambda severities, before, limit: (),
    ) -> None:
        self._missing_root_causes = missing_root_causes  # resolved before a time, without one
        self._program = program
        self._queries = queries
        self._clock = clock
        self._jobs = jobs
        self._notifier = notifier
        self._on_call = on_call
        self._silences = silences
        self._short_id = short_id
        self._on_enqueued = on_enqueued
        self._known = known  # known issues, most +1s since a time first

    def handlers(self) -> dict[str, Callable[[dict[str, object]], Sequence[Effect]]]:
        """Map outbox kinds to the methods that carry them out."""
        return {POST_DAILY: self._post_daily}

    # -- scheduling --------------------------------------------------------------------------

    def post_due(self) -> bool:
        """Claim and queue the daily digest if its slot is due; True when this call queued it."""
        reports, channel = self._program.reports, self._program.channels.digest
        if channel is None or self._jobs is None or not reports.daily.enabled:
            return False
        now = self._clock()
        due = due_slot(reports.daily, self._program.zone, now, reports.daily.grace_period)
        if due is None:
            return False
        payload: dict[str, object] = {
            "slot": due.key,
            "at": due.slot.at_utc.isoformat(),
            "late": due.late,
        }
        effect = Effect(POST_DAILY, payload, f"{POST_DAILY}:{due.key}")
        if not self._jobs.claim(DAILY_JOB, due.key, now, [effect]):
            return False
        log.info("daily digest for %s queued%s", due.key, " (late)" if due.late else "")
        self._on_enqueued()
        return True

    def _post_daily(self, payload: dict[str, object]) -> Sequence[Effect]:
        channel = self._program.channels.digest
        if channel is None or self._notifier is None:
            return []
        slot_at = dt.datetime.fromisoformat(str(payload["at"]))
        digest = self.daily(
            until=max(slot_at, self._clock()), slot_at=slot_at, late=bool(payload.get("late"))
        )
        posted = self._notifier.post_digest(channel, digest)
        if any(section.more for section in digest.sections):
            self._notifier.post_full_lists(channel, posted.ts, digest)
        return []

    # -- building ----------------------------------------------------------------------------

    def daily(
        self,
        until: dt.datetime | None = None,
        slot_at: dt.datetime | None = None,
        late: bool = False,
    ) -> Digest:
        """The stand-up digest covering the period since the previous scheduled one."""
        until = until or self._clock()
        zone, top = self._program.zone, self._program.reports.daily.top
        since = previous_slot(self._program.reports.daily, zone, slot_at or until).at_utc
        # Each list is read once, up to the thread's length: its first `top` lines make the
        # section, and all of them the full list when the section is cut.
        limit = max(top, FULL_LIST)
        backlog = self._queries.backlog(until, limit)
        lists = (
            self._new(since, until, limit),
            self._resolved(since, until, limit),
            self._open(backlog, until),
            *self._alerts(since, until, limit),
            self._escalations(since, until),
            self._decisions(backlog, until),
            self._known_issues(since, top),
            self._root_causes_due(until, limit),
        )
        sections = tuple(
            replace(section, lines=section.lines[:top]) if section.title in THREADED else section
            for section in lists
        )
        full = {
            section.title: whole.lines
            for section, whole in zip(sections, lists, strict=True)
            if section.more and section.title in THREADED
        }
        local = until.astimezone(zone)
        return Digest(
            title=f"Stand-up digest · {self._program.name} · {local:%a %d %b}",
            since=since,
            until=until,
            zone=self._program.timezone,
            late=late,
            sections=sections,
            on_call=self._on_call_text(),
            full_lists=full,
        )

    def _severities(self) -> list[str]:
        return [s.id for s in self._program.severities]

    def _line(self, fact: FeedbackFact, detail: str, flag: str = "") -> ItemLine:
        return ItemLine(
            ref=self._short_id(fact.id),
            summary=fact.summary,
            severity=fact.severity,
            link=fact.receipt_permalink,
            ticket_key=fact.ticket_key,
            ticket_url=fact.ticket_url,
            detail=detail,
            flag=flag,
        )

    def _new(self, since: dt.datetime, until: dt.datetime, top: int) -> Section:
        page = self._queries.new(since, until, top)
        counts = self._queries.new_counts(since, until)
        summary = _counts(counts["severity"], self._severities())
        if counts["category"]:
            summary += " — by category: " + _counts(counts["category"], [])
        lines = tuple(
            self._line(f, f"filed {self._ago(f.created_at, until)}")
            for f in page.facts
            if isinstance(f, FeedbackFact)
        )
        return Section("New feedback", lines, page.total, summary, "No new feedback.")

    def _resolved(self, since: dt.datetime, until: dt.datetime, top: int) -> Section:
        page = self._queries.resolved(since, until, top)
        lines = tuple(
            self._line(f, f"resolved in {_hours((f.resolved_at - f.created_at).total_seconds())}")
            for f in page.facts
            if isinstance(f, FeedbackFact) and f.resolved_at is not None
        )
        return Section("Resolved", lines, page.total, "", "Nothing resolved.")

    def _open_detail(self, fact: FeedbackFact, now: dt.datetime) -> tuple[str, str]:
        age = f"open {_hours((now - fact.created_at).total_seconds())}"
        if fact.resolve_due is not None and fact.resolve_due < now:
            return f"{age} · resolve-by passed {self._ago(fact.resolve_due, now)}", "breach"
        if fact.ack_due is not None and fact.acknowledged_at is None and fact.ack_due < now:
            return f"{age} · not acknowledged, due {self._ago(fact.ack_due, now)}", "breach"
        if fact.resolve_due is not None:
            left = _hours((fact.resolve_due - now).total_seconds())
            return f"{age} · {left} left to resolve", ""
        return age, ""

    def _priority(self, fact: FeedbackFact, now: dt.datetime) -> float:
        return score_of(
            self._program,
            now,
            severity=fact.severity,
            reach=fact.reach,
            reporters=fact.reporters,
            created_at=fact.created_at,
        )

    def _known_issues(self, since: dt.datetime, top: int) -> Section:
        issues = self._known(top, since)
        lines = tuple(
            ItemLine(
                ref=k.feedback.short_id,
                # User text, both: the renderer escapes the summary.
                summary=f"{k.feedback.summary} — workaround: {k.feedback.known_workaround}",
                severity=k.feedback.severity,
                link=k.feedback.receipt_permalink,
                ticket_key=k.feedback.ticket_key,
                ticket_url=k.feedback.ticket_url,
                detail=f"+{k.new_plus_ones} since the last digest · "
                f"{k.feedback.reporters} reporters",
            )
            for k in issues
        )
        return Section("Known issues", lines, len(lines), "", "No known issues.")

    @staticmethod
    def _with_priority(detail: tuple[str, str], priority: float) -> tuple[str, str]:
        return f"priority {priority:.1f} · {detail[0]}", detail[1]

    def _open(self, backlog: Backlog, now: dt.datetime) -> Section:
        page = backlog.open
        facts = [f for f in page.facts if isinstance(f, FeedbackFact)]
        scores = {f.id: self._priority(f, now) for f in facts}
        # SLA breaches stay on top (someone must act now); then the highest priority score.
        breached = {f.id for f in facts if self._open_detail(f, now)[1] == "breach"}
        facts.sort(key=lambda f: (f.id not in breached, -scores[f.id]))
        lines = tuple(
            self._line(f, *self._with_priority(self._open_detail(f, now), scores[f.id]))
            for f in facts
        )
        summary = _counts(backlog.open_by_severity, self._severities())
        return Section("Open items", lines, page.total, summary, "No open items.")

    def _alert_line(self, fact: AlertFact, now: dt.datetime) -> ItemLine:
        scope = ", ".join(f"{k}={v}" for k, v in sorted(fact.scope.items())) or "all traffic"
        if fact.resolved_at is not None:
            detail = f"lasted {_hours((fact.resolved_at - fact.fired_at).total_seconds())}"
        else:
            detail = f"firing for {_hours((now - fact.fired_at).total_seconds())}"
        if fact.acknowledged_by:
            detail += f" · acknowledged by <@{fact.acknowledged_by}>"
        return ItemLine(
            ref=fact.rule_id, summary=scope, severity=fact.severity, link=None, detail=detail
        )

    def _alerts(self, since: dt.datetime, until: dt.datetime, top: int) -> tuple[Section, Section]:
        fired, resolved = self._queries.alerts(since, until, top)
        silences = list(self._silences())
        silenced = f"{len(silences)} silence(s) in force" if silences else ""
        return (
            Section(
                "Alerts fired",
                tuple(self._alert_line(f, until) for f in fired.facts if isinstance(f, AlertFact)),
                fired.total,
                silenced,
                "No alerts fired.",
            ),
            Section(
                "Alerts resolved",
                tuple(
                    self._alert_line(f, until) for f in resolved.facts if isinstance(f, AlertFact)
                ),
                resolved.total,
                "",
                "No alerts resolved.",
            ),
        )

    def _escalations(self, since: dt.datetime, until: dt.datetime) -> Section:
        rows = self._queries.escalations(since, until)
        breaches = self._queries.breaches(since, until)
        lines = []
        for kind, severity, item_id, by, seconds, item_breaches in rows:
            ref = self._short_id(item_id) if kind == "feedback" else f"alert {item_id}"
            if by is not None and seconds is not None:
                detail = f"acknowledged by <@{by}> after {_hours(seconds)}"
            else:
                detail = "not acknowledged"
            if item_breaches:
                detail += " · SLA breached"
            lines.append(ItemLine(ref=ref, summary="", severity=severity, link=None, detail=detail))
        summary = f"{breaches} SLA breach(es) in the period" if breaches else ""
        return Section("Escalations", tuple(lines), len(lines), summary, "No escalations.")

    def _decisions(self, backlog: Backlog, now: dt.datetime) -> Section:
        page = backlog.needs_decision
        lines = []
        for fact in page.facts:
            if not isinstance(fact, FeedbackFact):
                continue
            reasons = []
            if fact.owner_id is None and fact.owner_name is None:
                reasons.append("no owner")
            if fact.ticket_status and "block" in fact.ticket_status.lower():
                reasons.append(f"blocked ({fact.ticket_status})")
            detail, flag = self._open_detail(fact, now)
            if flag:
                reasons.append("SLA breached")
            lines.append(self._line(fact, " · ".join(reasons) or detail, flag))
        return Section(
            "Needs a decision", tuple(lines), page.total, "", "Nothing waits for a decision."
        )

    def _root_causes_due(self, now: dt.datetime, limit: int) -> Section:
        """Resolved urgent items still without a root cause `rca.due_within` after their
        resolution: a reminder for the leads, naming each owner."""
        severities = [s for s in self._severities() if self._program.owes_root_cause(s)]
        cutoff = now - dt.timedelta(seconds=self._program.rca.due_within)
        items = self._missing_root_causes(severities, cutoff, limit)
        lines = []
        for item in items:
            owner = f"<@{item.owner_id}>" if item.owner_id else (item.owner_name or "no owner")
            resolved = self._ago(item.resolved_at, now) if item.resolved_at else ""
            lines.append(
                ItemLine(
                    ref=item.short_id,
                    summary=item.summary,
                    severity=item.severity,
                    link=item.receipt_permalink,
                    ticket_key=item.ticket_key,
                    ticket_url=item.ticket_url,
                    detail=f"resolved {resolved} · owner {_inert(owner)} · no root cause yet",
                    flag="late",
                )
            )
        return Section("Root causes due", tuple(lines), len(lines), "", "No root cause is overdue.")

    def mine(self, user: str, limit: int = 10) -> Section:
        """A person's own feedback, open first (for their Home tab)."""
        now = self._clock()
        page = self._queries.reported_by(user, limit)
        lines = []
        for fact in page.facts:
            if not isinstance(fact, FeedbackFact):
                continue
            if fact.resolved_at is not None:
                detail = f"resolved {self._ago(fact.resolved_at, now)}"
            else:
                detail = self._open_detail(fact, now)[0]
            lines.append(self._line(fact, detail))
        return Section("Your reports", tuple(lines), page.total, "", "You have not filed anything.")

    def _on_call_text(self) -> str:
        current = self._on_call()
        if current is None:
            return ""
        parts = [f"primary {_person(current.primary)}"]
        if self._program.oncall is not None and self._program.oncall.secondary:
            parts.append(f"secondary {_person(current.secondary)}")
        return "On call today: " + ", ".join(parts)

    @staticmethod
    def _ago(moment: dt.datetime, now: dt.datetime) -> str:
        seconds = (now - moment).total_seconds()
        return f"{_hours(seconds)} ago" if seconds >= 0 else f"in {_hours(-seconds)}"


def _inert(text: str) -> str:
    """A Jira name made inert for mrkdwn (a Slack mention is kept as it is)."""
    if text.startswith("<@") and text.endswith(">"):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _person(member: str | None) -> str:
    if member is None:
        return "nobody"
    if "@" in member:  # an e-mail: printed, never markup
        return "".join(ch for ch in member if ch not in "<>&")
    return f"<@{member}>"
