"""What kind of fault a report describes, in a small taxonomy any API or payments go-live shares.

Two reports about one component often differ in what went wrong: a 500 and a slowdown on
checkout, a refund charged twice and one never made, a 403 and a wrong total on the payouts
page. Words alone hide that (the reports share the component's vocabulary); the kind of fault
does not. Each kind is recognised by the general words of its symptom and by the HTTP status
classes, written from how support teams triage (error rates, latency, auth failures, data
integrity, validation, rate limits, display, requests for change), not from any set of reports:

- `error`: the system fails (5xx, exception, crash, "fails", "broken");
- `slow`: it answers late or never (latency, timeout, 504, hangs, spinner);
- `access`: who may do what (401/403, login, password, permission, SSO, MFA, token expired);
- `rejected`: a request refused as invalid (400/409/422, validation, declined, "not allowed");
- `limit`: throttled (429, rate limit, quota);
- `duplicate`: something happens more than once (twice, double, duplicated);
- `missing`: something does not happen or is gone (missing, never, not received, lost, 404);
- `wrong`: a value is off (wrong, incorrect, mismatch, rounding, "instead of");
- `over` and `under`: a value too high or too low (overcharged, understated, "too much");
- `display`: the screen shows it badly (layout, blank, truncated, translation, button);
- `request`: a change asked for rather than a fault (feature, "would be nice", "please add");
- `question`: a question rather than a report ("?", "how do", "is it safe").

`duplicate` and `missing` are opposites: "charged twice" and "never charged" are two faults;
so are `over` and `under` ("overcharged" and "undercharged").
"""

from __future__ import annotations

import re
from functools import lru_cache

# Each kind: the words or phrases that say it, matched as whole words on folded text. Status
# codes count by class (below), so a bare "500" or "429" says the kind too.
_PHRASES: dict[str, str] = {
    "error": (
        "error, errors, exception, exceptions, crash, crashes, crashed, crashing, fail, "
        "fails, failed, failing, failure, failures, broken, breaks, internal server error, "
        "bad gateway, unavailable, stack trace, traceback, outage, down, not working, "
        "doesn't work, does not work, something went wrong, oops"
    ),
    "slow": (
        "slow, slower, slowly, slowness, latency, timeout, timeouts, timed out, times out, "
        "timing out, hang, hangs, hanging, hung, spinner, spinning, loading forever, takes "
        "forever, lag, laggy, lagging, delay, delayed, delays, sluggish, performance, late, "
        "backlog, stuck, never finishes, takes ages"
    ),
    "access": (
        "login, log in, logged out, logging in, sign in, signin, sign-in, logout, password, "
        "unauthorized, unauthorised, forbidden, permission, permissions, access denied, not "
        "authorized, not authorised, role, roles, sso, mfa, 2fa, otp, credentials, locked "
        "out, session expired, token expired"
    ),
    "rejected": (
        "invalid, rejected, rejects, rejecting, validation, declined, declines, refused, not "
        "allowed, bad request, unprocessable"
    ),
    "limit": (
        "rate limit, rate limited, rate-limited, throttled, throttling, quota, too many requests"
    ),
    "duplicate": (
        "duplicate, duplicates, duplicated, twice, double, doubled, two times, multiple "
        "times, charged again, sent again, repeated"
    ),
    "missing": (
        "missing, never, not received, not arrived, didn't arrive, did not arrive, not sent, "
        "not charged, not created, not delivered, not showing, lost, disappeared, gone, "
        "absent, not found, no longer, empty, not applied, ignored, ignores, dropped, skipped, "
        "not saved, not updated, not updating"
    ),
    "wrong": (
        "wrong, incorrect, mismatch, mismatched, inconsistent, discrepancy, rounding, "
        "rounded, miscalculated, overstated, understated, overpaid, underpaid, overcharged, "
        "undercharged, off by, instead of, doesn't match, does not match, don't match, "
        "doesn't add up, does not add up"
    ),
    # A value off one way or the other: opposites, like a duplicate and a missing one.
    "over": "overcharged, overstated, overpaid, too much, too high, charged more",
    "under": "undercharged, understated, underpaid, too little, too low, charged less",
    "display": (
        "layout, blank, truncated, cut off, overlaps, overlapping, misaligned, translation, "
        "translated, untranslated, font, button, displayed, rendering, renders"
    ),
    "request": (
        "feature request, would be nice, would be great, please add, could you add, can you "
        "add, nice to have, enhancement, suggestion, we would like, wish, ability to, option "
        "to, support for"
    ),
    "question": (
        "how do, how can, how to, is it possible, is it safe, should we, do we need, can we, "
        "any eta, wondering, question"
    ),
}

# HTTP status classes: what a code says about the fault.
_STATUS = re.compile(r"\b([1-5]\d\d)\b")


def _status_kind(code: int) -> str | None:
    if code in (401, 403, 407):
        return "access"
    if code in (408, 504):
        return "slow"
    if code == 429:
        return "limit"
    if code in (404, 410):
        return "missing"
    if 400 <= code < 500:
        return "rejected"
    if 500 <= code < 600:
        return "error"
    return None


_PATTERNS = {
    kind: re.compile(r"\b(?:" + "|".join(re.escape(p.strip()) for p in found.split(",")) + r")\b")
    for kind, found in _PHRASES.items()
}

# The kinds that say what went wrong (the others say what the reporter wants).
FAULTS = frozenset(
    (
        "error",
        "slow",
        "access",
        "rejected",
        "limit",
        "duplicate",
        "missing",
        "wrong",
        "over",
        "under",
        "display",
    )
)
OPPOSITES = (("duplicate", "missing"), ("over", "under"))


@lru_cache(maxsize=4096)
def kinds(text: str) -> frozenset[str]:
    """The kinds of fault (and of request) a report's text names."""
    folded = text.casefold().replace("’", "'")
    found = {kind for kind, pattern in _PATTERNS.items() if pattern.search(folded)}
    for code in _STATUS.findall(folded):
        kind = _status_kind(int(code))
        if kind:
            found.add(kind)
    if "?" in folded:
        found.add("question")
    return frozenset(found)


def opposite(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether one report names one of a pair of opposite faults and the other the other
    (and neither names both)."""
    return any(
        (x in a and y in b and x not in b and y not in a)
        or (y in a and x in b and y not in b and x not in a)
        for x, y in OPPOSITES
    )


def asks_for_change(found: frozenset[str]) -> bool:
    """Whether a report asks for a change (a feature request)."""
    return "request" in found
