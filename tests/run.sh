#!/usr/bin/env bash
# The Hypercare Bot test command:
#
#     bash tests/run.sh [pytest args...]
#
# 1. creates .venv (python3 -m venv) if missing and installs the project with
#    ".[dev,postgres]" into it (skipped when pyproject.toml hasn't changed since
#    the last install);
# 2. unless HYPERCARE_TEST_POSTGRES_URL is already set, starts a throwaway
#    PostgreSQL cluster on 127.0.0.1 (installing Debian's `postgresql` package
#    when running as root and no server binaries are found) and points the
#    tests at it; the cluster is stopped and deleted when the script exits;
# 3. finds the HAProxy and Prometheus binaries the gateway tests (tests/alerts/gateway)
#    run as child processes, installing Debian's `haproxy` and `prometheus`
#    packages when running as root and they are missing (with service starts
#    blocked, and the packages' services stopped and disabled afterwards), and
#    exports HYPERCARE_HAPROXY_BIN and HYPERCARE_PROMETHEUS_BIN;
# 4. runs ruff check, ruff format --check, mypy and pytest (extra arguments go
#    to pytest).
#
# Environment:
#   HYPERCARE_TEST_POSTGRES_URL  use this PostgreSQL instead of starting one
#   HYPERCARE_REQUIRE_POSTGRES=1 fail (instead of running on SQLite only) when
#                                no PostgreSQL can be started
#   HYPERCARE_HAPROXY_BIN        haproxy binary to use (default: PATH, /usr/sbin)
#   HYPERCARE_PROMETHEUS_BIN     prometheus binary to use (default: PATH, /usr/bin)
#   HYPERCARE_REQUIRE_GATEWAY=1  fail (instead of skipping the gateway tests)
#                                when HAProxy or Prometheus is not available
#   PYTHON                       interpreter used to create .venv (default python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
STAMP="$VENV/.hypercare-install-stamp"
EXTRAS="dev,postgres"
REQUIRE_PG="${HYPERCARE_REQUIRE_POSTGRES:-0}"
REQUIRE_GW="${HYPERCARE_REQUIRE_GATEWAY:-0}"

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Cleanup: stop the throwaway PostgreSQL (if any) and delete its directory.
# ---------------------------------------------------------------------------
PG_TMP=""
PG_STARTED=0
PG_CTL=""
POLICY_RC=/usr/sbin/policy-rc.d
POLICY_SAVED=""
POLICY_OURS=0

as_pg_user() {
    # Run a PostgreSQL server binary as the cluster owner (postgres when root).
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then
            (cd "$PG_TMP" && runuser -u postgres -- env LC_ALL=C "$@")
        else
            local cmd
            cmd="$(printf '%q ' "$@")"
            (cd "$PG_TMP" && su -s /bin/sh postgres -c "LC_ALL=C $cmd")
        fi
    else
        (cd "$PG_TMP" && env LC_ALL=C "$@")
    fi
}

# While apt-get installs server packages, a policy-rc.d exiting 101 keeps their
# maintainer scripts from starting services (invoke-rc.d and deb-systemd-invoke
# both ask it). A policy-rc.d already there is put back afterwards.
block_service_starts() {
    if [ -e "$POLICY_RC" ]; then
        if ! POLICY_SAVED="$(mktemp "${TMPDIR:-/tmp}/policy-rc.d.XXXXXX")" ||
            ! cp -p "$POLICY_RC" "$POLICY_SAVED"; then
            warn "could not save $POLICY_RC"
            POLICY_SAVED=""
            return 1
        fi
    fi
    POLICY_OURS=1
    if ! printf '#!/bin/sh\n# Written by tests/run.sh while it installs packages: start no services.\nexit 101\n' \
        >"$POLICY_RC.hypercare" ||
        ! chmod 0755 "$POLICY_RC.hypercare" ||
        ! mv -f "$POLICY_RC.hypercare" "$POLICY_RC"; then
        warn "could not write $POLICY_RC"
        allow_service_starts
        return 1
    fi
}

allow_service_starts() {
    [ "$POLICY_OURS" -eq 1 ] || return 0
    if [ -n "$POLICY_SAVED" ]; then
        if cp -p "$POLICY_SAVED" "$POLICY_RC"; then
            rm -f "$POLICY_SAVED"
        else
            warn "could not put $POLICY_RC back; the original is in $POLICY_SAVED"
        fi
    else
        rm -f "$POLICY_RC"
    fi
    rm -f "$POLICY_RC.hypercare"
    POLICY_OURS=0
    POLICY_SAVED=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    if [ "$PG_STARTED" -eq 1 ] && [ -n "$PG_TMP" ] && [ -f "$PG_TMP/data/postmaster.pid" ]; then
        as_pg_user "$PG_CTL" -D "$PG_TMP/data" -m immediate -w -t 30 stop >/dev/null 2>&1
    fi
    if [ -n "$PG_TMP" ] && [ -d "$PG_TMP" ]; then
        rm -rf "$PG_TMP"
    fi
    allow_service_starts
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------------------
# 1. Virtualenv
# ---------------------------------------------------------------------------
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

# ---------------------------------------------------------------------------
# 2. Throwaway PostgreSQL
# ---------------------------------------------------------------------------
PG_BIN=""
APT_UPDATED=0

apt_update_once() {
    # `apt-get update` at most once per run (PostgreSQL and the gateway share it).
    [ "$APT_UPDATED" -eq 1 ] && return 0
    DEBIAN_FRONTEND=noninteractive apt-get update -q || return 1
    APT_UPDATED=1
}

find_pg_bin() {
    local initdb_path d
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        initdb_path="$(command -v initdb)"
        # Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/N/bin)
        # so that postgres, pg_ctl, psql and pg_isready come from the same version.
        d="$(dirname "$(readlink -f "$initdb_path" 2>/dev/null || echo "$initdb_path")")"
        if [ -x "$d/pg_ctl" ]; then
            PG_BIN="$d"
        else
            PG_BIN="$(dirname "$(command -v pg_ctl)")"
        fi
        return 0
    fi
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            PG_BIN="$d"
            return 0
        fi
    done
    return 1
}

pg_tool() {
    # Path of a PostgreSQL client tool: next to pg_ctl if there, else from PATH.
    if [ -x "$PG_BIN/$1" ]; then
        printf '%s\n' "$PG_BIN/$1"
    else
        command -v "$1"
    fi
}

install_pg() {
    local log
    log="$(mktemp)"
    note "installing Debian's postgresql package (apt-get)"
    if apt_update_once >"$log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >>"$log" 2>&1; then
        rm -f "$log"
        return 0
    fi
    tail -n 20 "$log" >&2
    rm -f "$log"
    return 1
}

ensure_postgres_user() {
    id -u postgres >/dev/null 2>&1 && return 0
    note "creating system user 'postgres'"
    if command -v useradd >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres
    else
        adduser --system --group --no-create-home --home /nonexistent postgres
    fi
}

pg_unavailable() {
    # $1: reason. Fatal when PostgreSQL is required, else fall back to SQLite.
    if [ "$REQUIRE_PG" = "1" ]; then
        die "$1 (HYPERCARE_REQUIRE_POSTGRES=1)"
    fi
    warn "$1"
    warn "running the database tests on SQLite only"
}

free_port() {
    "$VPY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start_pg() {
    local initdb psql pg_isready port attempt i
    if ! find_pg_bin; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
            install_pg || {
                pg_unavailable "could not install PostgreSQL with apt-get"
                return 0
            }
            find_pg_bin || {
                pg_unavailable "PostgreSQL installed but initdb/pg_ctl not found"
                return 0
            }
        else
            pg_unavailable "PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL (Debian: apt-get install postgresql) or set HYPERCARE_TEST_POSTGRES_URL"
            return 0
        fi
    fi
    initdb="$PG_BIN/initdb"
    PG_CTL="$PG_BIN/pg_ctl"
    [ -x "$initdb" ] || initdb="$(command -v initdb)"
    [ -x "$PG_CTL" ] || PG_CTL="$(command -v pg_ctl)"
    psql="$(pg_tool psql)" || {
        pg_unavailable "psql not found"
        return 0
    }
    pg_isready="$(pg_tool pg_isready)" || {
        pg_unavailable "pg_isready not found"
        return 0
    }
    note "using $("$PG_CTL" --version)"

    # The socket lives in this directory: keep its path short (sun_path limit).
    PG_TMP="$(mktemp -d "${TMPDIR:-/tmp}/hcpg.XXXXXX")"
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
        ensure_postgres_user
        chown postgres: "$PG_TMP"
        if ! runuser -u postgres -- test -w "$PG_TMP" 2>/dev/null; then
            # e.g. TMPDIR under /root: fall back to /tmp, which postgres can reach.
            rm -rf "$PG_TMP"
            PG_TMP="$(mktemp -d /tmp/hcpg.XXXXXX)"
            chown postgres: "$PG_TMP"
        fi
    fi

    if ! as_pg_user "$initdb" -D "$PG_TMP/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$PG_TMP/initdb.log" 2>&1; then
        tail -n 20 "$PG_TMP/initdb.log" >&2
        pg_unavailable "initdb failed"
        return 0
    fi

    # A port picked now may be taken before the server binds it: retry.
    for attempt in 1 2 3; do
        port="$(free_port)"
        if as_pg_user "$PG_CTL" -D "$PG_TMP/data" -l "$PG_TMP/postgres.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$PG_TMP' -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
            start >/dev/null 2>&1; then
            PG_STARTED=1
            break
        fi
        note "start on port $port failed (attempt $attempt)"
    done
    if [ "$PG_STARTED" -ne 1 ]; then
        tail -n 20 "$PG_TMP/postgres.log" >&2 || true
        pg_unavailable "could not start PostgreSQL"
        return 0
    fi

    # Bounded wait until the server accepts TCP connections.
    for i in $(seq 1 60); do
        if "$pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
            break
        fi
        if [ "$i" -eq 60 ]; then
            tail -n 20 "$PG_TMP/postgres.log" >&2 || true
            pg_unavailable "PostgreSQL did not become ready within 30s"
            return 0
        fi
        sleep 0.5
    done

    "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE hypercare LOGIN CREATEDB" \
        -c "CREATE DATABASE hypercare_test OWNER hypercare" >/dev/null ||
        die "could not create role/database in the throwaway PostgreSQL"

    export HYPERCARE_TEST_POSTGRES_URL="postgresql+psycopg://hypercare@127.0.0.1:$port/hypercare_test"
    note "PostgreSQL on 127.0.0.1:$port (data in $PG_TMP, removed on exit)"
}

if [ -n "${HYPERCARE_TEST_POSTGRES_URL:-}" ]; then
    step "PostgreSQL: using HYPERCARE_TEST_POSTGRES_URL from the environment"
else
    step "PostgreSQL: starting a throwaway server"
    start_pg
fi

# ---------------------------------------------------------------------------
# 3. Gateway binaries: HAProxy and Prometheus (tests/alerts/gateway runs them)
# ---------------------------------------------------------------------------
gw_unavailable() {
    # $1: reason. Fatal when the gateway tests are required, else they skip.
    if [ "$REQUIRE_GW" = "1" ]; then
        die "$1 (HYPERCARE_REQUIRE_GATEWAY=1)"
    fi
    note "$1"
    note "the gateway tests (tests/alerts/gateway) that need it will be skipped"
}

find_gw_bin() {
    # $1: command, $2...: fallback paths. Prints the first executable found.
    local name="$1" path
    shift
    if path="$(command -v "$name" 2>/dev/null)"; then
        printf '%s\n' "$path"
        return 0
    fi
    for path in "$@"; do
        if [ -x "$path" ]; then
            printf '%s\n' "$path"
            return 0
        fi
    done
    return 1
}

quiesce_service() {
    # A freshly installed package's service must neither run nor start at boot.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now --quiet "$1.service" >/dev/null 2>&1 || true
        return 0
    fi
    if [ -x "/etc/init.d/$1" ]; then
        "/etc/init.d/$1" stop >/dev/null 2>&1 || true
    fi
    if command -v update-rc.d >/dev/null 2>&1; then
        update-rc.d "$1" disable >/dev/null 2>&1 || true
    fi
}

install_gw_pkgs() {
    # $@: Debian packages to install without letting their services start.
    local log rc=1 pkg
    log="$(mktemp)"
    note "installing Debian packages: $* (apt-get, service starts blocked)"
    block_service_starts || {
        rm -f "$log"
        return 1
    }
    if apt_update_once >"$log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1; then
        rc=0
    fi
    allow_service_starts
    for pkg in "$@"; do
        quiesce_service "$pkg"
    done
    [ "$rc" -eq 0 ] || tail -n 20 "$log" >&2
    rm -f "$log"
    return "$rc"
}

setup_gateway() {
    local haproxy="${HYPERCARE_HAPROXY_BIN:-}" prometheus="${HYPERCARE_PROMETHEUS_BIN:-}"
    local missing=()
    # An explicit binary must exist; otherwise look on PATH and in Debian's places.
    if [ -n "$haproxy" ]; then
        [ -x "$haproxy" ] || die "HYPERCARE_HAPROXY_BIN=$haproxy is not executable"
    else
        haproxy="$(find_gw_bin haproxy /usr/sbin/haproxy /usr/local/sbin/haproxy)" || missing+=(haproxy)
    fi
    if [ -n "$prometheus" ]; then
        [ -x "$prometheus" ] || die "HYPERCARE_PROMETHEUS_BIN=$prometheus is not executable"
    else
        prometheus="$(find_gw_bin prometheus /usr/bin/prometheus)" || missing+=(prometheus)
    fi

    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            note "not root (or no apt-get): not installing ${missing[*]}"
        elif install_gw_pkgs "${missing[@]}"; then
            [ -n "$haproxy" ] || haproxy="$(find_gw_bin haproxy /usr/sbin/haproxy)" || true
            [ -n "$prometheus" ] || prometheus="$(find_gw_bin prometheus /usr/bin/prometheus)" || true
        else
            note "apt-get could not install ${missing[*]}"
        fi
    fi

    if [ -n "$haproxy" ]; then
        export HYPERCARE_HAPROXY_BIN="$haproxy"
        note "using $("$haproxy" -v 2>&1 | sed -n 1p)"
    fi
    if [ -n "$prometheus" ]; then
        export HYPERCARE_PROMETHEUS_BIN="$prometheus"
        note "using $("$prometheus" --version 2>&1 | sed -n 1p)"
    fi
    missing=()
    [ -n "$haproxy" ] || missing+=(haproxy)
    [ -n "$prometheus" ] || missing+=(prometheus)
    if [ "${#missing[@]}" -gt 0 ]; then
        gw_unavailable "${missing[*]} not found (as root: apt-get install --no-install-recommends ${missing[*]}; or set HYPERCARE_HAPROXY_BIN / HYPERCARE_PROMETHEUS_BIN)"
    fi
}

step "Gateway test binaries: HAProxy, Prometheus"
setup_gateway

# ---------------------------------------------------------------------------
# 4. Lint, types, tests
# ---------------------------------------------------------------------------
step "ruff check"
"$VENV/bin/ruff" check .

step "ruff format --check"
"$VENV/bin/ruff" format --check .

step "mypy"
"$VENV/bin/mypy" bot handlers storage

step "pytest${HYPERCARE_TEST_POSTGRES_URL:+ (SQLite + PostgreSQL)}"
"$VENV/bin/pytest" "$@"
