"""Reading `/hypercare override @user until <time> [on <rota>]`: pure, in the program's zone."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.oncall.program import WEEKDAYS, parse_clock, parse_duration
from bot.oncall.rota import local_instant

MAX_OVERRIDE = dt.timedelta(days=31)  # longer cover belongs in the program file's rota

_USER = re.compile(r"^<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,20})$")
USAGE = (
    "Usage: `/hypercare override @person until <time> [on <rota>]`, where the time is `18:00`, "
    "`tomorrow 09:00`, `fri 09:00`, `2026-12-01 09:00` or a duration like `for 4h`."
)


@dataclass(frozen=True)
class OverrideRequest:
    """Who covers which rota, from now until when."""

    who: str
    rota: str
    until: dt.datetime


class OverrideSyntaxError(ValueError):
    """The command could not be read; the message says how to write it."""


def _until(words: list[str], zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """Read the end: a clock time (the next one), a weekday or date with a time, or a duration."""
    local_now = now.astimezone(zone)
    if len(words) == 1:
        clock = parse_clock(words[0])
        day = local_now.date()
        end = local_instant(day, clock, zone)
        return end if end > now else local_instant(day + dt.timedelta(days=1), clock, zone)
    if len(words) == 2:
        first, clock = words[0].lower(), parse_clock(words[1])
        if first == "today":
            return local_instant(local_now.date(), clock, zone)
        if first == "tomorrow":
            return local_instant(local_now.date() + dt.timedelta(days=1), clock, zone)
        if first.upper()[:3] in WEEKDAYS and first.isalpha():
            ahead = (WEEKDAYS.index(first.upper()[:3]) - local_now.weekday()) % 7
            end = local_instant(local_now.date() + dt.timedelta(days=ahead), clock, zone)
            return end if end > now else end + dt.timedelta(days=7)
        return local_instant(dt.date.fromisoformat(first), clock, zone)
    raise ValueError("unreadable time")


def parse_override(
    text: str, zone: ZoneInfo, now: dt.datetime, rotas: tuple[str, ...], default_rota: str
) -> OverrideRequest:
    """Read the words after `override`; raise OverrideSyntaxError with a helpful message."""
    words = text.split()
    if len(words) < 3:
        raise OverrideSyntaxError(USAGE)
    match = _USER.match(words[0])
    if match is None:
        raise OverrideSyntaxError(
            f"Name the person with an @-mention picked from Slack's list. {USAGE}"
        )
    who = match.group(1) or match.group(2)
    rest = words[1:]
    rota = default_rota
    if len(rest) >= 2 and rest[-2].lower() == "on":
        rota = rest[-1].lower()
        rest = rest[:-2]
        if rota not in rotas:
            raise OverrideSyntaxError(
                f"There is no rota `{rota}`; the rotas are {', '.join(rotas)}."
            )
    keyword, spec = rest[0].lower(), rest[1:]
    try:
        if keyword == "for" and len(spec) == 1:
            until = now + dt.timedelta(seconds=parse_duration(spec[0]))
        elif keyword == "until" and spec:
            until = _until(spec, zone, now)
        else:
            raise ValueError("no until/for")
    except ValueError:
        raise OverrideSyntaxError(f"I could not read the time. {USAGE}") from None
    if until <= now:
        raise OverrideSyntaxError("That time has passed; give a time in the future.")
    if until - now > MAX_OVERRIDE:
        raise OverrideSyntaxError(
            "An override from Slack lasts at most 31 days; put longer cover in the rota."
        )
    return OverrideRequest(who, rota, until)
