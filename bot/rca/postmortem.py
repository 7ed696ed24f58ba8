"""The blameless post-mortem draft of an item, as Markdown, from what the bot knows: timeline,
impact, root cause and related items. People are named by role and Slack handle, never
judged; every user text is escaped so it reads as text in any Markdown viewer."""

from __future__ import annotations

import datetime as dt
import re

from bot.config import Program
from bot.domain import AuditEvent, Feedback, LessonKind, PostmortemFacts

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")
_WHO = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def md(text: str) -> str:
    """User text made inert for Markdown: specials backslashed, HTML and newlines neutral."""
    flat = " ".join(text.split())
    escaped = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)


_LESSON_HEADINGS = {
    LessonKind.WENT_WELL: "What went well",
    LessonKind.TO_IMPROVE: "What to improve",
    LessonKind.UNEXPECTED: "What was unexpected",
    LessonKind.ARCHITECTURE: "Architecture insights",
}


def _who(actor: str | None) -> str:
    """A Slack user as a handle, anyone else (Jira, the bot) by escaped name."""
    if not actor:
        return "someone"
    return f"@{actor}" if _WHO.match(actor) else md(actor)


def _at(moment: dt.datetime, program: Program) -> str:
    return f"{moment.astimezone(program.zone):%Y-%m-%d %H:%M} ({program.timezone})"


def duration(seconds: float) -> str:
    """A span in whole units a reader takes in at once: 42 min, 5 h 3 min, 3 d 4 h."""
    minutes = max(0, int(seconds // 60))  # whole minutes passed, as a clock shows them
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def _event_text(event: AuditEvent, feedback: Feedback) -> str | None:
    """One audit event as a timeline line (None for what a timeline leaves out)."""
    detail = event.detail
    who = _who(event.actor)
    match event.action:
        case "created":
            return f"Reported by {who}"
        case "ticketed":
            return f"Jira ticket {md(str(detail.get('key') or ''))} opened"
        case "ticket_status":
            key, to = md(str(detail.get("key") or "")), md(str(detail.get("to") or ""))
            return f"Ticket {key} moved to **{to}** by {who}"
        case "taken":
            return f"Taken by {who}"
        case "assigned":
            return f"Assigned to {_who(str(detail.get('owner') or ''))} by {who}"
        case "jira_assigned":
            owner = detail.get("owner")
            return f"Assigned in Jira to {_who(str(owner)) if owner else 'nobody'} by {who}"
        case "resolved":
            return f"Resolved from Slack by {who}"
        case "plus_one":
            return f"Also reported by {who}"
        case "merged_from":
            return f"Another report merged into it by {who}"
        case "known":
            return f"Marked as a known issue by {who}"
        case "root_cause":
            return f"Root cause recorded by {who}"
        case "ticket_requested" | "ticket_refused" | "ticket_deduplicated" | "known_retired":
            return None
        case _:
            return f"{md(event.action.replace('_', ' ').capitalize())} by {who}"


def _timeline(facts: PostmortemFacts, program: Program) -> list[tuple[dt.datetime, str]]:
    feedback = facts.feedback
    lines = [(e.at, text) for e in facts.events if (text := _event_text(e, feedback)) is not None]
    if facts.climb is not None:
        lines.append((facts.climb.started_at, "Escalation started"))
        if facts.climb.acknowledged_at is not None:
            who = _who(facts.climb.acknowledged_by)
            lines.append((facts.climb.acknowledged_at, f"Acknowledged by {who}"))
        if facts.climb.sla_breached_at is not None:
            lines.append((facts.climb.sla_breached_at, "Resolve-by passed: SLA breached"))
    for alert in facts.alerts:
        scope = ", ".join(f"{k}={v}" for k, v in alert.scope) or "all traffic"
        lines.append((alert.fired_at, f"Alert {md(alert.rule_id)} fired on {md(scope)}"))
        if alert.resolved_at is not None:
            lines.append((alert.resolved_at, f"Alert {md(alert.rule_id)} resolved"))
    if feedback.resolved_at is not None and not any("Resolved" in t for _, t in lines):
        lines.append((feedback.resolved_at, "Resolved"))
    lines.sort(key=lambda line: line[0])
    return lines


def draft(facts: PostmortemFacts, program: Program, now: dt.datetime) -> str:
    """The post-mortem draft of one item as Markdown."""
    feedback = facts.feedback
    severity = program.severity(feedback.severity).label
    end = feedback.resolved_at or now
    resolved = _at(feedback.resolved_at, program) if feedback.resolved_at else "not yet"
    out = [
        f"# Post-mortem (draft): {feedback.short_id} — {md(feedback.summary)}",
        "",
        "_Blameless: this looks at what happened and why the system let it happen, not at who._",
        "",
        f"- **Severity:** {md(severity)}",
        f"- **State:** {feedback.state.value}",
        f"- **Reported:** {_at(feedback.created_at, program)}",
        f"- **Resolved:** {resolved}",
    ]
    if feedback.ticket_key:
        out.append(f"- **Jira:** {md(feedback.ticket_key)}")
    if feedback.owned:
        out.append(f"- **Owner:** {_who(feedback.owner_id or feedback.owner_name)}")
    if feedback.receipt_permalink:
        out.append(f"- **Slack thread:** <{feedback.receipt_permalink}>")
    out += ["", "## Summary", "", md(feedback.actual) or md(feedback.summary)]

    reporters = {feedback.reporter_id, *(r.reporter_id for r in facts.reporters)}
    out += ["", "## Impact", ""]
    out.append(f"- **Users affected (as reported):** {feedback.reach:,} people reached")
    out.append(
        f"- **Reporters:** {len(reporters)} ({', '.join(sorted(_who(r) for r in reporters))})"
    )
    out.append(f"- **Duration:** {duration((end - feedback.created_at).total_seconds())}")
    if facts.climb is not None:
        climb = facts.climb
        acked = "never acknowledged"
        if climb.acknowledged_at is not None:
            waited = (climb.acknowledged_at - climb.started_at).total_seconds()
            acked = f"acknowledged after {duration(waited)}"
        met = climb.sla_breached_at is None and end <= climb.resolve_due
        sla = "met" if met else "breached"
        out.append(f"- **SLA:** resolve-by {_at(climb.resolve_due, program)}, {sla}; {acked}")
    else:
        out.append("- **SLA:** no escalation policy applied")
    if feedback.api_endpoint:
        out.append(f"- **Endpoint:** {md(feedback.api_endpoint)}")

    out += ["", "## Timeline", ""]
    out += [f"- {_at(at, program)} — {text}" for at, text in _timeline(facts, program)]

    out += ["", "## Root cause", ""]
    cause = facts.root_cause
    if cause is None:
        out.append("_Not recorded yet: the owner can press *Record root cause* in the thread._")
    else:
        out.append(f"- **Category:** {md(program.rca.category_label(cause.category))}")
        out.append(f"- **Symptom:** {md(cause.symptom)}")
        out += ["", "**The 5 whys**", ""]
        out += [f"{n}. {md(why)}" for n, why in enumerate(cause.whys, start=1)]
        out += ["", f"- **Fix:** {md(cause.fix)}", f"- **Prevention:** {md(cause.prevention)}"]
        out.append(f"- Recorded by {_who(cause.recorded_by)} on {_at(cause.recorded_at, program)}")

    out += ["", "## Related items", ""]
    related = [f"- {m.short_id} (merged into it): {md(m.summary)}" for m in facts.merged]
    related += [
        f"- +1 from {_who(r.reporter_id)} on {_at(r.at, program)}"
        + (f" (moved from {md(r.moved_from)})" if r.moved_from else "")
        + (f": {md(r.text)}" if r.text else "")
        for r in facts.reporters
    ]
    out += related or ["None."]
    out += ["", "## Lessons learned", ""]
    for kind, heading in _LESSON_HEADINGS.items():
        recorded = [x for x in facts.lessons if x.kind is kind]
        if not recorded and kind is LessonKind.ARCHITECTURE:
            continue  # an insight is rarer: its heading only when there is one
        out.append(f"- {heading}" + ("" if recorded else ":"))
        out += [f"  - {md(x.text)} ({x.short_id}, {_who(x.author_id)})" for x in recorded]
    out += [
        "",
        f"_Drafted by Hypercare Bot on {_at(now, program)} from what it recorded._",
        "",
    ]
    return "\n".join(out)
