"""Storage depends only on the kernel: from bot it imports bot.domain, and nothing of handlers."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

STORAGE = ROOT / "storage"
ALLOWED_FROM_BOT = frozenset({"bot.domain"})


def storage_imports() -> list[tuple[str, str]]:
    """Every (module file, imported module) pair under storage/, at any depth of the file."""
    pairs = []
    for path in sorted(STORAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            pairs += [(path.relative_to(ROOT).as_posix(), name) for name in names]
    return pairs


def test_storage_imports_only_the_domain_from_bot() -> None:
    """A repository takes the values rules computed: it imports no rules, only bot.domain."""
    offenders = [
        (path, name)
        for path, name in storage_imports()
        if name.split(".")[0] == "bot" and name not in ALLOWED_FROM_BOT
    ]
    assert offenders == []


def test_storage_imports_nothing_of_handlers() -> None:
    """Data flows one way: nothing in storage imports the Slack handlers."""
    assert [(p, n) for p, n in storage_imports() if n.split(".")[0] == "handlers"] == []
