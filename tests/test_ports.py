"""Ports in one place: protocols live in bot/ports.py, and services import no transport library."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

BOT = ROOT / "bot"
PORTS = BOT / "ports.py"
SERVICES = ("feedback", "tickets", "alerts", "escalation", "oncall", "reports")
TRANSPORTS = frozenset({"httpx", "slack_sdk", "slack_bolt", "jira"})

# Protocols that are not outside dependencies but a capability's own strategies.
INTERNAL_STRATEGIES = {
    ("bot/tickets/subjects.py", "Subjects"): (
        "how the ticket service loads, drafts and records a ticket for feedback or an alert: "
        "both implementations are the bot's own, over its own repositories"
    ),
    ("bot/reports/schedule.py", "Schedule"): (
        "the shape the digest and weekly-review schedules of the program file share, so one "
        "slot calculation serves both: configuration, not a system the bot talks to"
    ),
}


def modules(root: Path) -> Iterator[tuple[str, ast.Module]]:
    """Every Python module under `root`, by path relative to the repository, parsed."""
    for path in sorted(root.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def is_protocol(node: ast.ClassDef) -> bool:
    """Tell whether a class lists `Protocol` (or `typing.Protocol`, `Protocol[T]`) as a base."""
    for base in node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        if isinstance(target, ast.Name) and target.id == "Protocol":
            return True
        if isinstance(target, ast.Attribute) and target.attr == "Protocol":
            return True
    return False


def imported(tree: ast.Module) -> Iterator[str]:
    """Every absolute module an `import` or `from … import` names, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def imported_modules(tree: ast.Module) -> Iterator[str]:
    """Like `imported`, plus `bot.x.y` for `from bot.x import y` (y may be a submodule)."""
    yield from imported(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def module_name(path: Path) -> str:
    """The dotted name of a module file under the repository."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_protocols_are_defined_only_in_ports() -> None:
    """No module under bot/ but bot/ports.py defines a Protocol, except the listed strategies."""
    found = {
        (path, node.name)
        for path, tree in modules(BOT)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and is_protocol(node) and path != "bot/ports.py"
    }
    assert found == set(INTERNAL_STRATEGIES)


def test_every_port_has_a_docstring() -> None:
    """Each protocol in bot/ports.py says in its docstring what it stands for."""
    tree = ast.parse(PORTS.read_text())
    ports = [node for node in tree.body if isinstance(node, ast.ClassDef) and is_protocol(node)]
    assert ports
    assert [port.name for port in ports if not ast.get_docstring(port)] == []


def test_services_import_no_transport_library() -> None:
    """The service packages import none of httpx, slack_sdk, slack_bolt or jira."""
    offenders = [
        (path, name)
        for package in SERVICES
        for path, tree in modules(BOT / package)
        for name in imported(tree)
        if name.split(".")[0] in TRANSPORTS
    ]
    assert offenders == []


def test_ports_import_nothing_that_imports_them_back() -> None:
    """Nothing bot/ports.py imports reaches bot.ports again, so every layer may import ports."""
    graph = {
        module_name(ROOT / path): {n for n in imported_modules(tree) if n.split(".")[0] == "bot"}
        for path, tree in modules(BOT)
    }
    seen: set[str] = set()
    stack = sorted(graph["bot.ports"])
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(graph.get(name, ()))  # names that are no module (a class) lead nowhere
    assert "bot.ports" not in seen
