"""Reading `/hypercare override …` in the program's zone, and the command text around it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.domain import ItemKind, ItemRef
from bot.oncall.overrides import OverrideSyntaxError, parse_override
from handlers.forms import escalate_reference, override_text, plain_command_text

BERLIN = ZoneInfo("Europe/Berlin")
ROTAS = ("integrator", "customer")
# Friday 2026-03-27 16:00 in Berlin (UTC+1); Sunday 29 March the clocks go forward.
NOW = dt.datetime(2026, 3, 27, 15, 0, tzinfo=dt.UTC)


def read(text: str) -> tuple[str, str, dt.datetime]:
    """Parse and return (who, rota, until in Berlin time)."""
    request = parse_override(text, BERLIN, NOW, ROTAS, "integrator")
    return request.who, request.rota, request.until.astimezone(BERLIN)


def local(*args: int) -> dt.datetime:
    """A Berlin wall-clock time."""
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ("<@U0ANA|ana> until 18:00", local(2026, 3, 27, 18, 0)),
        ("<@U0ANA|ana> until 09:00", local(2026, 3, 28, 9, 0)),  # passed today: tomorrow's
        ("<@U0ANA> until tomorrow 08:30", local(2026, 3, 28, 8, 30)),
        ("<@U0ANA> until mon 09:00", local(2026, 3, 30, 9, 0)),  # across the DST change
        ("<@U0ANA> until 2026-03-29 02:30", local(2026, 3, 29, 3, 0)),  # in the gap: 03:00
        ("<@U0ANA> for 4h", local(2026, 3, 27, 20, 0)),
    ],
)
def test_times_are_read_in_the_program_zone(text: str, until: dt.datetime) -> None:
    """Clock times mean the next such time, weekdays the next such day, dates as given."""
    who, rota, end = read(text)
    assert (who, rota) == ("U0ANA", "integrator")
    assert end == until and end.utcoffset() == until.utcoffset()


def test_a_rota_can_be_named() -> None:
    """`on <rota>` picks the rota; an unknown one is refused with the known ones."""
    assert read("<@U0ANA|ana> until 18:00 on customer")[1] == "customer"
    with pytest.raises(OverrideSyntaxError, match="integrator, customer"):
        read("<@U0ANA|ana> until 18:00 on nightshift")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@ana until 18:00", "@-mention picked from Slack"),
        ("<@U0ANA> until teatime", "could not read the time"),
        ("<@U0ANA> until 2026-03-01 09:00", "has passed"),
        ("<@U0ANA> for 40d", "at most 31 days"),
        ("<@U0ANA>", "Usage"),
    ],
)
def test_bad_overrides_say_how_to_write_them(text: str, message: str) -> None:
    """Every refusal is a sentence the admin can act on."""
    with pytest.raises(OverrideSyntaxError, match=message):
        read(text)


def test_commands_are_told_apart_from_summaries() -> None:
    """`escalate HC-12` and `override @x …` are commands; other text starting so is a summary."""
    assert escalate_reference("escalate hc-12") == "HC-12"
    assert escalate_reference("escalate the login problem") is None
    assert override_text("override <@U0ANA|ana> until 18:00") == "<@U0ANA|ana> until 18:00"
    assert override_text("override button does nothing") is None


def test_escaped_command_text_reads_as_typed() -> None:
    """With escaping on, a summary keeps people's names, not Slack's markup."""
    text = "Login fails for <@U1|ana> &amp; <#C1|ops>: <https://x.example/a|docs> &lt;b&gt;"
    assert plain_command_text(text) == "Login fails for @ana & #ops: docs <b>"


def test_item_refs_from_buttons_are_parsed_strictly() -> None:
    """A forged or odd button value is no item."""
    assert ItemRef.parse("alert:5") == ItemRef(ItemKind.ALERT, 5)
    assert str(ItemRef(ItemKind.FEEDBACK, 12)) == "feedback:12"
    for value in ("feedback:", "ticket:3", "feedback:1:2", None, 7, "feedback:-1"):
        assert ItemRef.parse(value) is None
