"""The JQL tokenizer: words, quoted strings with escapes, operators and punctuation.

Syntax errors carry Jira's "(line L, character C)" suffix, which clients show to users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.jira.wire import JiraError

KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
# Longest first, so ">=" is not read as ">" then "=".
_OPERATORS = ("!=", ">=", "<=", "!~", "=", ">", "<", "~")
_RESERVED = set("*;?|/%^$#@[]{}+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", " ": " "}


@dataclass(frozen=True)
class Token:
    """A JQL token: kind is word, string, op, '(', ')', ',' or eof; pos is 0-based."""

    kind: str
    text: str
    pos: int

    def keyword(self, *words: str) -> bool:
        """Whether this is an unquoted keyword among `words` (any case)."""
        return self.kind == "word" and self.text.lower() in words


def syntax_error(jql: str, pos: int, message: str) -> JiraError:
    """A JQL syntax error with Jira's '(line L, character C)' suffix."""
    line = jql.count("\n", 0, pos) + 1
    column = pos - (jql.rfind("\n", 0, pos) + 1) + 1
    return JiraError(400, [f"Error in the JQL Query: {message} (line {line}, character {column})"])


def tokenize(jql: str) -> list[Token]:
    """Split JQL into tokens ending with an eof token; quoted strings take backslash escapes."""
    tokens: list[Token] = []
    i = 0
    while i < len(jql):
        char = jql[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            tokens.append(Token(char, char, i))
            i += 1
        elif jql.startswith(("&&", "||"), i):
            tokens.append(Token("word", "and" if char == "&" else "or", i))
            i += 2
        elif op := next((o for o in _OPERATORS if jql.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif char in "\"'":
            start = i
            text, i = _quoted(jql, i)
            tokens.append(Token("string", text, start))
        elif char in _RESERVED or char == "!":
            raise syntax_error(
                jql,
                i,
                f"The character '{char}' is a reserved JQL character. You must enclose it in a "
                f"string or use the escape '\\u{ord(char):04x}' instead.",
            )
        else:
            start = i
            while (
                i < len(jql)
                and not jql[i].isspace()
                and jql[i] not in "(),=!<>~\"'"
                and jql[i] not in _RESERVED
            ):
                i += 1
            tokens.append(Token("word", jql[start:i], start))
    tokens.append(Token("eof", "EOF", len(jql)))
    return tokens


def _quoted(jql: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting at `start`; returns (text, index after the closing quote)."""
    quote, i = jql[start], start + 1
    out: list[str] = []
    while i < len(jql):
        char = jql[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\":
            nxt = jql[i + 1 : i + 2]
            if nxt in _ESCAPES and nxt:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", jql[i + 2 : i + 6]):
                out.append(chr(int(jql[i + 2 : i + 6], 16)))
                i += 6
                continue
            raise syntax_error(
                jql, i, f"The escape sequence '\\{nxt}' in the quoted string is illegal."
            )
        out.append(char)
        i += 1
    raise syntax_error(jql, start, f"The quoted string '{''.join(out)}' has not been completed.")
