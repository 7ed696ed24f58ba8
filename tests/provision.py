"""What the tests take from the machine: PostgreSQL's server binaries, HAProxy and Prometheus.

A missing program skips the tests that need it, naming the Debian packages to install. In CI
(CI=true), or with HYPERCARE_REQUIRE_POSTGRES=1 / HYPERCARE_REQUIRE_GATEWAY=1, it fails them
instead: a green CI run has run them all. `.ci/run` installs the packages on a fresh machine.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

POSTGRES_PACKAGES = "postgresql"
GATEWAY_PACKAGES = "haproxy prometheus"
# PostgreSQL refuses to run as root; as root the tests run its server as this user.
SERVER_USER = "postgres"


def why_required(require_variable: str) -> str | None:
    """What makes a missing program fail the run (CI=true, or `require_variable`=1), if anything."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        return "CI=true"
    if os.environ.get(require_variable) == "1":
        return f"{require_variable}=1"
    return None


def unavailable(reason: str, require_variable: str) -> NoReturn:
    """Skip the test for want of a program (`reason` says how to get it), or fail it if required."""
    required_by = why_required(require_variable)
    if required_by is not None:
        pytest.fail(f"{reason} (required: {required_by})", pytrace=False)
    pytest.skip(reason)


def _version_key(bindir: Path) -> tuple[int, ...]:
    """/usr/lib/postgresql/15/bin → (15,), so that 15 sorts above 9.6."""
    return tuple(int(part) for part in bindir.parent.name.split(".") if part.isdigit())


def find_pg_ctl() -> str | None:
    """pg_ctl from `pg_config --bindir`, else Debian's newest /usr/lib/postgresql/N/bin, else PATH.

    pg_config may come from the client headers alone (libpq-dev), naming a bindir without pg_ctl,
    hence the fallbacks.
    """
    bindirs: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            answer = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
            )
            bindirs.append(Path(answer.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    bindirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in bindirs:
        pg_ctl = bindir / "pg_ctl"
        if pg_ctl.is_file() and os.access(pg_ctl, os.X_OK):
            return str(pg_ctl)
    return shutil.which("pg_ctl")


def ensure_server_user() -> None:
    """Create the `postgres` system user when it does not exist (a machine without the package)."""
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
        )


def write_pg_ctl_wrapper(wrapper: Path, pg_ctl: str) -> None:
    """Write an executable running the real pg_ctl as `postgres`, for pytest-postgresql to call.

    From `/`: pg_ctl fails in a working directory its user may not enter.
    """
    wrapper.write_text(
        "#!/bin/sh\n"
        "# Written by tests/provision.py: PostgreSQL refuses to run as root.\n"
        f'cd / && exec runuser -u {SERVER_USER} -- {shlex.quote(pg_ctl)} "$@"\n'
    )
    wrapper.chmod(0o700)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
