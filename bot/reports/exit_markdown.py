"""The closing report as Markdown: headings, tables and lists that a wiki, a repository or any
Markdown viewer shows as they are, with the charts beside it as PNG files it links by name.

Every text a person typed (summaries, workarounds, lessons, Jira names and statuses) and every
label from the program file goes through `md`: it reads as text and cannot open a heading, end
a table cell, link, or carry HTML. Figures are iterated in the program's severity order (then
any other severity found, sorted), never in the order a database handed them over.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from bot.config import Program
from bot.domain import Feedback, LessonKind, MeanTimes, Verdict
from bot.rca.postmortem import duration, md

if TYPE_CHECKING:
    from bot.reports.exit import ExitReport, HandoverItem

HOUR = 3600.0
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_URL_UNSAFE = str.maketrans({" ": "%20", "<": "%3C", ">": "%3E", "|": "%7C", "\\": "%5C"})
_VERDICTS = {
    Verdict.READY: "**Ready to exit hypercare**: every exit criterion is met.",
    Verdict.NOT_READY: "**Not ready to exit hypercare yet.**",
    Verdict.NO_CRITERIA: "**No exit criteria set** (`reports.exit_criteria` in the program file).",
}
_MET = {True: "met", False: "**not met**", None: "no data"}


def render(report: ExitReport, program: Program) -> str:
    """The whole report as one Markdown document (ends with a newline)."""
    out = [
        f"# Hypercare closing report: {md(program.name)}",
        "",
        f"_As of {_at(report.as_of, program)}. Written by Hypercare Bot from what it recorded; "
        "the same records give the same report._",
    ]
    for section in (
        _summary(report, program),
        _kpis(report, program),
        _weekly(report, program),
        _satisfaction(report),
        _criteria(report),
        _open_items(report, program),
        _known(report, program),
        _root_causes(report, program),
        _lessons(report, program),
        _charts(report),
    ):
        out += ["", *section]
    return "\n".join(out) + "\n"


# -- sections ---------------------------------------------------------------------------------


def _summary(report: ExitReport, program: Program) -> list[str]:
    readiness = report.readiness
    judged = readiness.criteria
    verdict = _VERDICTS[readiness.verdict]
    if judged:
        verdict += f" {sum(1 for c in judged if c.met is True)} of {len(judged)} criteria met."
    return [
        "## Summary",
        "",
        f"- **Verdict:** {verdict}",
        f"- **Go-live:** {report.go_live.isoformat()}",
        f"- **Planned window:** {_planned(report)}",
        f"- **Covered:** {_at(report.since, program)} to {_at(report.as_of, program)}"
        f"{_where_in_window(report)}",
        f"- **Feedback:** {_count(sum(report.opened.values()), 'report')} filed, "
        f"{sum(report.resolved.values())} resolved, {sum(report.open_now.values())} open now",
        f"- **Handed over:** {_count(report.open_total, 'open item')}"
        + (f", {report.unowned} without an owner" if report.unowned else "")
        + f"; {_count(len(report.known), 'known issue')}"
        + ("+" if report.known_more else "")
        + f"; {_count(report.lessons_total, 'lesson')} learned",
    ]


def _planned(report: ExitReport) -> str:
    if report.planned is None:
        return "no planned end (`planned_end` or `reports.window` in the program file)"
    window = report.planned
    return f"{window.start.isoformat()} to {window.end.isoformat()} ({window.length_days} days)"


def _where_in_window(report: ExitReport) -> str:
    day, left = report.readiness.day_number, report.readiness.days_left
    if day is None or left is None or report.planned is None:
        return ""
    if left < 0:
        return f" (day {day}: {_count(-left, 'day')} past the planned end)"
    return f" (day {day} of {report.planned.length_days}, {_count(left, 'day')} left)"


def _kpis(report: ExitReport, program: Program) -> list[str]:
    keys = _severities(report, report.opened, report.resolved, report.open_now, report.breaches)
    keys += [k for k in sorted(report.mean_times) if k not in keys]
    rows = [
        [
            _label(program, key),
            str(report.opened.get(key, 0)),
            str(report.resolved.get(key, 0)),
            str(report.open_now.get(key, 0)),
            str(report.breaches.get(key, 0)),
            _hours(_mean(report.mean_times, key, "mtta_seconds")),
            _hours(_mean(report.mean_times, key, "mttr_seconds")),
        ]
        for key in keys
    ]
    rows.append(
        [
            "**All**",
            *(
                f"**{sum(figures.values())}**"
                for figures in (report.opened, report.resolved, report.open_now, report.breaches)
            ),
            "",
            "",
        ]
    )
    alerts = report.alerts
    lines = [
        "## KPIs over the window",
        "",
        *_table(
            ["Severity", "Opened", "Resolved", "Open now", "SLA breaches", "MTTA", "MTTR"], rows
        ),
        "",
        "_MTTA: mean time from an escalation's start to its acknowledgement; MTTR: mean time "
        "from a report to its resolution._",
        "",
        f"- **Gateway alerts:** {alerts.fired} fired, {alerts.resolved} resolved, "
        f"{alerts.still_firing} still firing; mean duration "
        f"{_hours(alerts.mean_duration_seconds)}",
    ]
    lines += [f"- {md(line)}" for line in report.gateway] or ["- No gateway figures in the window."]
    return lines


def _weekly(report: ExitReport, program: Program) -> list[str]:
    head = ["Week", "Starts", "Opened", "Resolved", "Open at end", "SLA breaches"]
    for source in report.sources:
        head += [f"Error rate · {md(source)}", f"p95 · {md(source)}"]
    rows = []
    for week in report.weeks:
        row = [
            _week_name(week.number, week.complete),
            week.start.isoformat(),
            str(sum(week.opened.values())),
            str(sum(week.resolved.values())),
            str(sum(week.open_at_end.values())),
            str(sum(week.breaches.values())),
        ]
        for source in report.sources:
            row += [_percent(week.error_rate.get(source)), _ms(week.p95_ms.get(source))]
        rows.append(row)
    keys = _severities(report, *(w.mean_times for w in report.weeks))
    times = [
        [
            _week_name(week.number, week.complete),
            *(_mean_pair(week.mean_times.get(key)) for key in keys),
        ]
        for week in report.weeks
    ]
    lines = ["## Weekly trends", "", *_table(head, rows)]
    lines += ["", "_Gateway figures are the mean of the week's samples._"] if report.sources else []
    lines += ["", "### MTTA / MTTR by severity, per week", ""]
    if keys:
        lines += _table(["Week", *(_label(program, key) for key in keys)], times)
    else:
        lines.append("_Nothing was acknowledged or resolved in the window._")
    return lines


def _satisfaction(report: ExitReport) -> list[str]:
    lines = ["### User satisfaction", ""]
    if not report.satisfaction:
        return [*lines, "_No user pulse answers in the window._"]
    rows = [
        [
            week.week_start.isoformat(),
            str(week.responses),
            "—" if week.csat_percent is None else f"{week.csat_percent:.0f} %",
            "—" if week.mean is None else f"{week.mean:.2f}",
        ]
        for week in report.satisfaction
    ]
    return [*lines, *_table(["Week of", "Answers", "CSAT", "Mean score"], rows)]


def _criteria(report: ExitReport) -> list[str]:
    readiness = report.readiness
    lines = ["## Exit criteria", "", _VERDICTS[readiness.verdict]]
    if not readiness.criteria:
        return lines
    rows = [
        [md(c.label), _MET[c.met], md(c.value), c.trend.value or "—"] for c in readiness.criteria
    ]
    return [*lines, "", *_table(["Criterion", "Verdict", "Figure", "Trend"], rows)]


def _open_items(report: ExitReport, program: Program) -> list[str]:
    lines = [f"## Open items handed over ({report.open_total})", ""]
    if not report.open_items:
        return [*lines, "_No open items: nothing is handed over._"]
    rows = [_item_row(item, program) for item in report.open_items]
    head = ["Item", "Severity", "Summary", "Owner", "Ticket", "Age", "Priority"]
    lines += _table(head, rows)
    more = report.open_total - len(report.open_items)
    if more > 0:
        lines += ["", f"_…and {more} more, lower in priority: see the tracker._"]
    lines += [
        "",
        "_Highest priority first (severity, people reached, reporters and age; `/hypercare "
        "top` ranks the same way). An item without an owner needs one before hand-over._",
    ]
    return lines


def _item_row(item: HandoverItem, program: Program) -> list[str]:
    feedback = item.feedback
    ticket = "—"
    if feedback.ticket_key:
        ticket = _link(md(feedback.ticket_key), feedback.ticket_url)
        if feedback.ticket_status:
            ticket += f" ({md(feedback.ticket_status)})"
    return [
        _link(feedback.short_id, feedback.receipt_permalink),
        _label(program, feedback.severity),
        md(feedback.summary),
        _owner(feedback),
        ticket,
        duration(item.age.total_seconds()),
        f"{item.priority:.1f}",
    ]


def _known(report: ExitReport, program: Program) -> list[str]:
    count = f"{len(report.known)}{'+' if report.known_more else ''}"
    lines = [f"## Known issues and workarounds ({count})", ""]
    if not report.known:
        return [*lines, "_No known issues were recorded._"]
    for issue in report.known:
        feedback = issue.feedback
        state = "resolved" if feedback.resolved_at is not None else "open"
        lines.append(
            f"- **{_link(feedback.short_id, feedback.receipt_permalink)}** "
            f"({_label(program, feedback.severity)}, {state}, "
            f"{_count(feedback.reporters, 'reporter')}): {md(feedback.summary)}"
        )
        lines.append(f"  - Workaround: {md(feedback.known_workaround or '')}")
    return lines


def _root_causes(report: ExitReport, program: Program) -> list[str]:
    lines = ["## Root-cause categories", ""]
    if not report.root_causes:
        return [*lines, "_No item resolved in the window has a root cause recorded._"]
    rows = [
        [
            md(program.rca.category_label(theme.category)),
            str(theme.count),
            ", ".join(_link(i.short_id, i.link) for i in theme.recent),
        ]
        for theme in report.root_causes
    ]
    lines += _table(["Category", "Items", "Latest"], rows)
    return [*lines, "", "_Items resolved in the window with a recorded root cause._"]


def _lessons(report: ExitReport, program: Program) -> list[str]:
    lines = [f"## Lessons learned ({report.lessons_total})"]
    if not report.lessons:
        return [*lines, "", "_No lessons recorded in the window: `/hypercare lesson` adds one._"]
    for kind in LessonKind:
        recorded = [lesson for lesson in report.lessons if lesson.kind is kind]
        if not recorded:
            continue
        lines += ["", f"### {kind.label}", ""]
        for lesson in recorded:
            items = ", ".join(_link(i.short_id, i.link) for i in lesson.items)
            lines.append(
                f"- {md(lesson.text)} ({lesson.short_id}, {_who(lesson.author_id)}, "
                f"{lesson.created_at.astimezone(program.zone).date().isoformat()}"
                + (f"; {items})" if items else ")")
            )
    more = report.lessons_total - len(report.lessons)
    if more > 0:
        lines += ["", f"_…and {more} more in `/hypercare lessons`._"]
    return lines


def _charts(report: ExitReport) -> list[str]:
    lines = ["## Charts", ""]
    for chart in report.charts:
        if chart.no_data:
            lines.append(f"- {chart.title}: no data in the window.")
        else:
            lines += [f"![{chart.title}]({chart.filename})", ""]
    return lines[:-1] if lines[-1] == "" else lines


# -- small pieces -----------------------------------------------------------------------------


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table; cells are escaped already (`md` escapes `|`)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines


def _severities(report: ExitReport, *figures: Mapping[str, object]) -> list[str]:
    """The program's severities, then any other found in the figures, sorted."""
    ranked = [s.id for s in report.severities]
    found = sorted({key for mapping in figures for key in mapping} - set(ranked))
    return [*ranked, *found]


def _label(program: Program, severity: str) -> str:
    known = {s.id: s.label for s in program.severities}
    return md(known.get(severity, severity))


def _mean(times: Mapping[str, MeanTimes], key: str, field: str) -> float | None:
    mean = times.get(key)
    value = getattr(mean, field) if mean is not None else None
    return None if value is None else float(value)


def _mean_pair(mean: MeanTimes | None) -> str:
    if mean is None or (mean.mtta_seconds is None and mean.mttr_seconds is None):
        return "—"
    return f"{_hours(mean.mtta_seconds)} / {_hours(mean.mttr_seconds)}"


def _week_name(number: int, complete: bool) -> str:
    return f"{number}" if complete else f"{number} (so far)"


def _hours(seconds: float | None) -> str:
    """'25 min' under an hour, '3.5 h' under two days, '4.2 d' beyond; '—' without a figure."""
    if seconds is None:
        return "—"
    if seconds < HOUR:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * HOUR:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.2f} %"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _count(n: int, singular: str) -> str:
    return f"{n} {singular}" + ("" if n == 1 else "s")


def _at(moment: dt.datetime, program: Program) -> str:
    return f"{moment.astimezone(program.zone):%Y-%m-%d %H:%M} ({program.timezone})"


def _who(user: str | None) -> str:
    """A Slack user as a handle, anyone else (a Jira name) escaped."""
    if not user:
        return "nobody"
    return f"@{user}" if _SLACK_USER.match(user) else md(user)


def _owner(feedback: Feedback) -> str:
    if feedback.owner_id:
        return _who(feedback.owner_id)
    if feedback.owner_name:
        return f"{md(feedback.owner_name)} (Jira)"
    return "**nobody**"


def _link(label: str, url: str | None) -> str:
    """`[label](<url>)` for a web address (Slack's or Jira's), else the label alone.

    The address is not user text, but it is still kept from ending the link or a table cell.
    """
    if not url or not url.startswith(("https://", "http://")):
        return label
    return f"[{label}](<{url.translate(_URL_UNSAFE)}>)"
