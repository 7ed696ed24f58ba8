#!/usr/bin/env bash
# The Hypercare Bot test command:
#
#     bash tests/run.sh [pytest args...]
#
# 1. creates .venv (python3 -m venv) if missing and installs the project with
#    ".[dev,postgres]" into it (skipped when pyproject.toml hasn't changed since
#    the last install);
# 2. as root with apt-get, installs the Debian packages of the programs the tests
#    run (PostgreSQL's server, HAProxy, Prometheus) when they are missing
#    (tests/install-packages.sh; their services are kept from starting);
# 3. runs ruff check, ruff format --check, mypy and pytest (extra arguments go
#    to pytest).
#
# The tests start those programs themselves (tests/conftest.py, tests/provision.py)
# on 127.0.0.1. Where a program is still missing, its tests skip naming the apt-get
# install; in CI (CI=true, .ci/run) they fail instead.
#
# Environment:
#   HYPERCARE_TEST_POSTGRES_URL  use this PostgreSQL instead of starting one
#   HYPERCARE_REQUIRE_POSTGRES=1 fail the PostgreSQL tests without PostgreSQL (as CI=true does)
#   HYPERCARE_REQUIRE_GATEWAY=1  fail the gateway tests without HAProxy or Prometheus (ditto)
#   HYPERCARE_HAPROXY_BIN        haproxy binary to use (default: PATH, /usr/sbin)
#   HYPERCARE_PROMETHEUS_BIN     prometheus binary to use (default: PATH, /usr/bin)
#   PYTHON                       interpreter used to create .venv (default python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
STAMP="$VENV/.hypercare-install-stamp"
EXTRAS="dev,postgres"

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

step "Python environment (.venv)"
if [ ! -x "$VPY" ]; then
    PY="${PYTHON:-python3}"
    command -v "$PY" >/dev/null 2>&1 || die "$PY not found; install Python >= 3.11"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$PY is $("$PY" -V 2>&1); Hypercare Bot needs Python >= 3.11 (set PYTHON=...)"
    note "creating .venv with $("$PY" -V 2>&1)"
    "$PY" -m venv "$VENV" ||
        die "'$PY -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi

want_stamp="$(
    "$VPY" - "$EXTRAS" <<'EOF'
import hashlib, sys
h = hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest()
print(f"{h} extras={sys.argv[1]} python={sys.version.split()[0]}")
EOF
)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ]; then
    note "up to date with pyproject.toml"
else
    # Editable installs of a pyproject-only project need pip >= 21.3.
    if ! "$VPY" -c 'import sys, pip; sys.exit(tuple(int(p) for p in pip.__version__.split(".")[:2]) < (21, 3))' 2>/dev/null; then
        note "upgrading pip"
        "$VPY" -m pip install -q --disable-pip-version-check --upgrade pip
    fi
    note "pip install -e \".[$EXTRAS]\""
    rm -f "$STAMP"
    "$VPY" -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"
    printf '%s\n' "$want_stamp" >"$STAMP"
fi

step "System packages (PostgreSQL, HAProxy, Prometheus)"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    bash "$ROOT/tests/install-packages.sh"
else
    note "not root or no apt-get: tests needing a missing program will skip, naming it"
fi

step "ruff check"
"$VENV/bin/ruff" check .

step "ruff format --check"
"$VENV/bin/ruff" format --check .

step "mypy"
"$VENV/bin/mypy" bot handlers storage

step "pytest"
"$VENV/bin/pytest" "$@"
