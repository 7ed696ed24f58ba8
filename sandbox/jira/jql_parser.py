"""The JQL grammar: a recursive-descent parser for the subset the bot uses.

The parser checks syntax, field names and which operators each field takes; what a clause means
is left to a compiler function it is given (see jira_jql), so the grammar does not need
to know the site's catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sandbox.jira.jql_tokens import KEYWORDS, Token, syntax_error, tokenize
from sandbox.jira.wire import JiraError

if TYPE_CHECKING:
    from sandbox.jira.state import Issue

Predicate = Callable[["Issue"], bool]
_Item = TypeVar("_Item")

EMPTY_OPERATORS = {"is", "is not"}
_EQUALITY = {"=", "!=", "in", "not in"}
_COMPARISON = {"=", "!=", ">", ">=", "<", "<="} | EMPTY_OPERATORS
# JQL field name -> (canonical field, supported operators).
_FIELDS: dict[str, tuple[str, set[str]]] = {
    "project": ("project", _EQUALITY),
    "key": ("key", _EQUALITY),
    "issuekey": ("key", _EQUALITY),
    "id": ("key", _EQUALITY),
    "labels": ("labels", _EQUALITY | EMPTY_OPERATORS),
    "status": ("status", _EQUALITY),
    "statuscategory": ("statuscategory", _EQUALITY),
    "issuetype": ("issuetype", _EQUALITY),
    "type": ("issuetype", _EQUALITY),
    "priority": ("priority", _EQUALITY | EMPTY_OPERATORS),
    "component": ("component", _EQUALITY | EMPTY_OPERATORS),
    "summary": ("summary", {"~", "!~"} | EMPTY_OPERATORS),
    "created": ("created", _COMPARISON),
    "createddate": ("created", _COMPARISON),
    "updated": ("updated", _COMPARISON),
    "updateddate": ("updated", _COMPARISON),
    "resolutiondate": ("resolutiondate", _COMPARISON),
    "resolved": ("resolutiondate", _COMPARISON),
}
_ORDERABLE = {
    "key",
    "created",
    "updated",
    "resolutiondate",
    "priority",
    "status",
    "summary",
    "issuetype",
}


@dataclass(frozen=True)
class Value:
    """A JQL operand: a word or quoted string, or a function call like now()."""

    text: str
    function: bool = False


@dataclass
class JqlQuery:
    """A parsed query: the filter (None when unrestricted) and ORDER BY (field, descending)."""

    where: Predicate | None
    order: list[tuple[str, bool]]


# (canonical field, field name as typed, operator, operands) -> the clause's predicate
ClauseCompiler = Callable[[str, str, str, list[Value]], Predicate]


class JqlParser:
    """Recursive-descent parser for the JQL subset the bot uses, compiled to predicates."""

    def __init__(self, jql: str, compile_clause: ClauseCompiler) -> None:
        """Tokenise `jql`; each clause parsed is handed to `compile_clause`."""
        self.jql, self.compile_clause = jql, compile_clause
        self.tokens = tokenize(jql)
        self.index = 0

    @property
    def token(self) -> Token:
        """The current token."""
        return self.tokens[self.index]

    def advance(self) -> Token:
        """Consume and return the current token."""
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, message: str, token: Token | None = None) -> JiraError:
        """A syntax error at `token` (default: the current one)."""
        return syntax_error(self.jql, (token or self.token).pos, message)

    def expect(self, kind: str) -> None:
        """Consume a punctuation token of `kind`, or fail naming what came instead."""
        if self.token.kind != kind:
            raise self.fail(f"Expecting '{kind}' but got '{self.token.text}'.")
        self.advance()

    def comma_separated(self, item: Callable[[], _Item]) -> list[_Item]:
        """item {, item}."""
        items = [item()]
        while self.token.kind == ",":
            self.advance()
            items.append(item())
        return items

    def parse(self) -> JqlQuery:
        """query := [or_expr] [ORDER BY field [ASC|DESC] {, ...}] EOF."""
        where = None
        if self.token.kind != "eof" and not self.token.keyword("order"):
            where = self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.token.keyword("order"):
            self.advance()
            if not self.token.keyword("by"):
                raise self.fail(f"Expecting 'BY' but got '{self.token.text}'.")
            self.advance()
            order = self.comma_separated(self.order_item)
        if self.token.kind != "eof":
            expected = "either ',' or the end of the query" if order else "either 'OR' or 'AND'"
            raise self.fail(f"Expecting {expected} but got '{self.token.text}'.")
        return JqlQuery(where, order)

    def order_item(self) -> tuple[str, bool]:
        """One ORDER BY field with an optional direction (ASC by default)."""
        token = self.advance()
        if not _names_a_field(token):
            raise self.fail(f"Expecting a field name but got '{token.text}'.", token)
        canonical, _ = _known_field(token.text)
        if canonical not in _ORDERABLE:
            raise JiraError(400, [f"Field '{token.text}' does not support sorting."])
        descending = False
        if self.token.keyword("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        return canonical, descending

    def or_expr(self) -> Predicate:
        """or_expr := and_expr {OR and_expr}."""
        return self.joined("or", self.and_expr, any)

    def and_expr(self) -> Predicate:
        """and_expr := not_expr {AND not_expr}."""
        return self.joined("and", self.not_expr, all)

    def joined(
        self, keyword: str, operand: Callable[[], Predicate], combine: Callable[..., bool]
    ) -> Predicate:
        """operand {keyword operand}, true when `combine` (any or all) holds over the operands."""
        parts = [operand()]
        while self.token.keyword(keyword):
            self.advance()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else lambda issue: combine(p(issue) for p in parts)

    def not_expr(self) -> Predicate:
        """not_expr := NOT not_expr | '(' or_expr ')' | clause."""
        if self.token.keyword("not"):
            self.advance()
            inner = self.not_expr()
            return lambda issue: not inner(issue)
        if self.token.kind == "(":
            self.advance()
            inner = self.or_expr()
            self.expect(")")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        """clause := field operator operand."""
        name = self.advance()
        if not _names_a_field(name):
            raise self.fail(
                f"Expecting a field name but got '{name.text}'. You must surround '{name.text}' "
                "in quotation marks to use it as a field name.",
                name,
            )
        operator = self.operator()
        if operator in ("in", "not in"):
            values = self.value_list()
        elif operator in EMPTY_OPERATORS:
            if not self.token.keyword("empty", "null"):
                raise self.fail(f"Expecting 'EMPTY' but got '{self.token.text}'.")
            self.advance()
            values = []
        elif self.token.keyword("empty", "null") and operator in ("=", "!="):
            self.advance()
            operator, values = ("is" if operator == "=" else "is not"), []
        else:
            values = [self.value()]
        canonical, operators = _known_field(name.text)
        if operator not in operators:
            raise JiraError(
                400,
                [f"The operator '{operator.upper()}' is not supported by the '{name.text}' field."],
            )
        return self.compile_clause(canonical, name.text, operator, values)

    def operator(self) -> str:
        """=, !=, <, >, <=, >=, ~, !~, IN, NOT IN, IS, IS NOT."""
        token = self.advance()
        if token.kind == "op":
            return token.text
        if token.keyword("in"):
            return "in"
        if token.keyword("not") and self.token.keyword("in"):
            self.advance()
            return "not in"
        if token.keyword("is"):
            if self.token.keyword("not"):
                self.advance()
                return "is not"
            return "is"
        raise self.fail(
            f"Expecting operator but got '{token.text}'. The valid operators are '=', '!=', '<', "
            "'>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.",
            token,
        )

    def value(self) -> Value:
        """A word, a quoted string, or a function call."""
        token = self.advance()
        if token.kind == "string":
            return Value(token.text)
        if token.kind == "word" and not token.keyword(*KEYWORDS):
            if self.token.kind == "(":
                self.advance()
                while self.token.kind not in (")", "eof"):
                    self.advance()
                if self.advance().kind != ")":
                    raise self.fail("Expecting ')' to close the function call.", token)
                return Value(token.text, function=True)
            return Value(token.text)
        raise self.fail(
            f"Expecting either a value, list or function but got '{token.text}'. You must surround "
            f"'{token.text}' in quotation marks to use it as a value.",
            token,
        )

    def value_list(self) -> list[Value]:
        """'(' value {, value} ')'."""
        self.expect("(")
        values = self.comma_separated(self.value)
        self.expect(")")
        return values


def _names_a_field(token: Token) -> bool:
    """Whether a token can be a field name: a word that is no keyword, or a quoted string."""
    return token.kind in ("word", "string") and not token.keyword(*KEYWORDS)


def _known_field(name: str) -> tuple[str, set[str]]:
    """The canonical field and its operators, or Jira's answer to a field it does not know."""
    known = _FIELDS.get(name.lower())
    if known is None:
        raise JiraError(
            400, [f"Field '{name}' does not exist or you do not have permission to view it."]
        )
    return known
