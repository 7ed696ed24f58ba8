#!/usr/bin/env bash
# Installs, when missing, the Debian packages whose programs the tests run as child processes:
# PostgreSQL's server, HAProxy and Prometheus. Called by tests/run.sh (the test command) when it
# runs as root with apt-get; their services are kept from starting. A failed install does not
# stop the test run: the tests that need the program then skip (locally) or fail (CI=true),
# naming it.
set -uo pipefail

# The same places the tests look (tests/provision.py, sandbox/gateway/stack.py).
missing=()
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || command -v pg_ctl >/dev/null ||
    missing+=(postgresql)
[ -n "${HYPERCARE_HAPROXY_BIN:-}" ] || command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] ||
    missing+=(haproxy)
[ -n "${HYPERCARE_PROMETHEUS_BIN:-}" ] || command -v prometheus >/dev/null ||
    [ -x /usr/bin/prometheus ] || missing+=(prometheus)

if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> apt-get install ${missing[*]} (their services kept from starting)"
    # Maintainer scripts ask policy-rc.d (via invoke-rc.d / deb-systemd-invoke) before they
    # start a service: 101 means no. One already there is put back afterwards.
    policy=/usr/sbin/policy-rc.d
    saved=""
    if [ -e "$policy" ]; then
        saved="$(mktemp)"
        cp -p "$policy" "$saved"
    fi
    restore_policy() {
        if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
    }
    trap restore_policy EXIT
    printf '#!/bin/sh\n# Written by tests/install-packages.sh while it installs packages.\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get -qq update || ! apt-get -qq install -y --no-install-recommends "${missing[@]}"; then
        echo "WARNING: apt-get install ${missing[*]} failed; the tests needing them will say so" >&2
    fi
    restore_policy
    trap - EXIT
    # A service started anyway (a script that asks no policy) is stopped, and kept from boot.
    for service in "${missing[@]}"; do
        if [ -d /run/systemd/system ]; then
            systemctl disable --now --quiet "$service.service" 2>/dev/null || true
        elif [ -x "/etc/init.d/$service" ]; then
            "/etc/init.d/$service" stop >/dev/null 2>&1 || true
            update-rc.d "$service" disable >/dev/null 2>&1 || true
        fi
    done
fi

