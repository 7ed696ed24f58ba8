"""Program-file sections the demo, the end-to-end tests and the benchmarks build alike.

`two_tier_escalation` is the "two-tier escalation test program": one-person on-call rotas, on
call since 2020, and a sev1 policy that pages the primary, waits, pages the secondary, waits and
pages the leads. Callers merge its sections into a program file's mapping (as YAML loads it)
before validating it, so the same sections work with any base program.
"""

from __future__ import annotations

from typing import Any

# 2020-01-06 is a Monday: the first shift starts at a hand-off, long before any run.
ON_CALL_SINCE = "2020-01-06"
HANDOFF = "MON 09:00"


def two_tier_escalation(
    primary: str,
    secondary: str,
    *,
    wait_s: float,
    severity: str = "sev1",
    ack_within: str = "1m",
    resolve_within: str = "1h",
    notify_leads: bool = True,
    rotas: tuple[str, str] = ("first", "second"),
) -> dict[str, Any]:
    """The `oncall` and `escalation` sections of a program file, as YAML would load them.

    Two weekly rotas named `rotas` (primary's, then secondary's) with one member each, on call
    since 2020-01-06, and one policy for `severity`: notify_primary, wait `wait_s` seconds,
    notify_secondary, and, with `notify_leads`, another wait and notify_leads.
    """
    wait = {"wait": f"{wait_s:g}s"}
    steps: list[Any] = ["notify_primary", wait, "notify_secondary"]
    if notify_leads:
        steps += [dict(wait), "notify_leads"]
    first, second = rotas
    return {
        "oncall": {
            "primary": first,
            "secondary": second,
            "rotas": [
                {"id": first, "members": [primary], "handoff": HANDOFF, "start": ON_CALL_SINCE},
                {"id": second, "members": [secondary], "handoff": HANDOFF, "start": ON_CALL_SINCE},
            ],
        },
        "escalation": {
            "policies": [
                {
                    "severity": severity,
                    "ack_within": ack_within,
                    "resolve_within": resolve_within,
                    "steps": steps,
                }
            ]
        },
    }
