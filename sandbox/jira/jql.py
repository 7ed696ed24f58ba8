"""JQL search over a site's issues: what each clause means there, and ORDER BY.

The grammar is in jira_jql_parser (tokens in jira_jql_tokens). Here values are resolved against
the site's catalogue and issues, dates are read relative to its clock, and the predicates and
sort keys that result are run over the stored issues.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.jira.catalogue import STATUS_CATEGORIES, known_as
from sandbox.jira.jql_parser import EMPTY_OPERATORS, JqlParser, Predicate, Value
from sandbox.jira.wire import JiraError

if TYPE_CHECKING:
    from sandbox.jira.state import Issue, JiraSite

_ISSUE_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_PERIOD = re.compile(r"^([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_PERIOD_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
_DATE_FIELDS = ("created", "updated", "resolutiondate")

# Canonical JQL field -> the ids an issue holds for it (empty set: the field is EMPTY).
_ATTRIBUTES: dict[str, Callable[[Issue], set[str]]] = {
    "project": lambda i: {i.project.id},
    "key": lambda i: {i.id},
    "labels": lambda i: set(i.labels),
    "status": lambda i: {i.status.id},
    "statuscategory": lambda i: {i.status.category},
    "issuetype": lambda i: {i.issuetype.id},
    "priority": lambda i: {i.priority.id} if i.priority else set(),
    "component": lambda i: {c.id for c in i.components},
}


def run_search(site: JiraSite, jql: str, *, strict: bool = True) -> tuple[list[Issue], bool]:
    """Issues matching `jql` in its order, and whether the query had a restriction."""
    clauses = JqlClauses(site, site.now(), strict)
    query = JqlParser(jql, clauses.compile).parse()
    found = [issue for issue in site.issues if query.where is None or query.where(issue)]
    found.sort(key=lambda i: int(i.id), reverse=not query.order)  # no ORDER BY: newest first
    # Stable sorts from the last key to the first give the multi-key order.
    for name, descending in reversed(query.order):
        found.sort(key=_sort_key(site, name, descending), reverse=descending)
    return found, query.where is not None


class JqlClauses:
    """Compiles checked clauses into predicates; unknown values fail only when `strict`."""

    def __init__(self, site: JiraSite, now: datetime, strict: bool) -> None:
        """Resolve values against `site`; relative dates count from `now`."""
        self.site, self.now, self.strict = site, now, strict

    def compile(self, canonical: str, typed: str, operator: str, values: list[Value]) -> Predicate:
        """Turn a checked clause into a predicate on issues."""
        if canonical in _DATE_FIELDS:
            return self.date_clause(canonical, typed, operator, values)
        if canonical == "summary":
            if operator in EMPTY_OPERATORS:
                return lambda issue: (not issue.summary) == (operator == "is")
            terms = [t.lower() for t in re.findall(r"\w+", " ".join(v.text for v in values))]
            matches: Predicate = lambda issue: all(t in issue.summary.lower() for t in terms)  # noqa: E731
            return matches if operator == "~" else lambda issue: not matches(issue)
        current = _ATTRIBUTES[canonical]
        if operator in EMPTY_OPERATORS:
            return lambda issue: (not current(issue)) == (operator == "is")
        for value in values:
            if value.function:
                raise _unknown_function(value)
        wanted: set[str] = set()
        for value in values:
            wanted |= self.resolve(canonical, typed, value.text)
        if operator in ("=", "in"):
            return lambda issue: bool(current(issue) & wanted)
        return lambda issue: bool(current(issue)) and not current(issue) & wanted

    def resolve(self, canonical: str, typed: str, text: str) -> set[str]:
        """The ids a value stands for; unknown values are a 400 in strict mode."""
        site, catalogue = self.site, self.site.catalogue
        found: set[str]
        if canonical == "labels":
            return {text}
        if canonical == "key":
            if not _ISSUE_KEY.match(text) and not text.isdigit():
                raise JiraError(400, [f"The issue key '{text}' for field '{typed}' is invalid."])
            found = {i.id for i in site.issues if i.answers_to(text)}
            if not found and self.strict:
                raise JiraError(
                    400, [f"An issue with key '{text}' does not exist for field '{typed}'."]
                )
            return found
        if canonical == "project":
            project = catalogue.find_project(text, by_name=True)
            found = {project.id} if project else set()
        elif canonical == "status":
            found = {s.id for s in catalogue.statuses if known_as(s, text)}
        elif canonical == "statuscategory":
            found = {
                key
                for key, (number, name, _) in STATUS_CATEGORIES.items()
                if text.lower() in (key, name.lower(), str(number))
            }
        else:
            entries = {"issuetype": catalogue.issue_types, "priority": catalogue.priorities}.get(
                canonical, catalogue.components
            )
            found = {e.id for e in entries if known_as(e, text)}
        if not found and self.strict:
            raise JiraError(400, [f"The value '{text}' does not exist for the field '{typed}'."])
        return found

    def date_clause(
        self, canonical: str, typed: str, operator: str, values: list[Value]
    ) -> Predicate:
        """A comparison on created, updated or resolutiondate."""

        def stamp(issue: Issue) -> datetime | None:
            moment: datetime | None = getattr(issue, canonical)
            return moment

        if operator in EMPTY_OPERATORS:
            return lambda issue: (stamp(issue) is None) == (operator == "is")
        when = self.moment(values[0], typed)
        compare: dict[str, Callable[[datetime], bool]] = {
            "=": lambda m: m == when,
            "!=": lambda m: m != when,
            ">": lambda m: m > when,
            ">=": lambda m: m >= when,
            "<": lambda m: m < when,
            "<=": lambda m: m <= when,
        }
        test = compare[operator]
        return lambda issue: (moment := stamp(issue)) is not None and test(moment)

    def moment(self, value: Value, typed: str) -> datetime:
        """A JQL date: absolute (UTC), a period relative to now like -5m or '4w 2d', or now()."""
        if value.function:
            if value.text.lower() == "now":
                return self.now
            raise _unknown_function(value)
        text = value.text.strip()
        period = _PERIOD.match(text)
        if period:
            delta = timedelta()
            for amount, unit in _PERIOD_PART.findall(period.group(2)):
                delta += timedelta(**{_PERIOD_UNITS[unit.lower()]: int(amount)})
            return self.now - delta if period.group(1) == "-" else self.now + delta
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        raise JiraError(
            400,
            [
                f"Date value '{text}' for field '{typed}' is invalid. Valid formats include: "
                "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
                "format e.g. '-5d', '4w 2d'."
            ],
        )


def _unknown_function(value: Value) -> JiraError:
    """Jira's answer to a function call the emulator does not implement."""
    return JiraError(400, [f"Unable to find JQL function '{value.text}()'."])


def _sort_key(site: JiraSite, name: str, descending: bool) -> Callable[[Issue], tuple[int, Any]]:
    """A sort key for ORDER BY `name` that keeps EMPTY values last in either direction."""
    catalogue = site.catalogue

    def value(issue: Issue) -> Any:
        if name == "key":
            return (issue.project.key, issue.number)
        if name == "priority":
            # Catalogue order is rank order, highest first; negate so ASC means lowest first.
            return -catalogue.priorities.index(issue.priority) if issue.priority else None
        if name == "status":
            return catalogue.statuses.index(issue.status)
        if name == "issuetype":
            return issue.issuetype.name.lower()
        if name == "summary":
            return issue.summary.lower()
        return getattr(issue, name)

    def key(issue: Issue) -> tuple[int, Any]:
        found = value(issue)
        if found is None:
            return (0, 0) if descending else (1, 0)
        return (1, found) if descending else (0, found)

    return key
