"""Parsers of outside input answer with a value or their own error type, never a crash.

Slack payload fields, slash-command text, the program file, metric expositions and Jira
webhook events, each fed arbitrary input.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from bot.alerts.engine.exposition import ExpositionError, parse_exposition
from bot.alerts.engine.model import FailureKind, Scrape, ScrapeFailure
from bot.config import Program, ProgramFileError, load_program
from bot.domain import FeedbackDraft, ItemRef
from bot.integrations.prometheus import ExpositionSource
from bot.oncall.overrides import OverrideRequest, OverrideSyntaxError, parse_override
from bot.tickets.webhook import status_change
from handlers import forms
from tests.hostile.conftest import PURE, Recorded
from tests.hostile.strategies import hostile_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((ROOT / "hypercare.example.yaml").read_text())

# Any JSON value, nested a few levels.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False)
    | hostile_text(40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(hostile_text(12), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutate(document: Any, data: st.DataObject, depth: int = 0) -> Any:
    """A copy of `document` with one value somewhere replaced, removed or joined by another."""
    if isinstance(document, dict) and document and depth < 6:
        key = data.draw(st.sampled_from(sorted(document, key=str)))
        action = data.draw(st.sampled_from(["descend", "replace", "delete", "add"]))
        out = dict(document)
        if action == "descend":
            out[key] = mutate(document[key], data, depth + 1)
        elif action == "replace":
            out[key] = data.draw(json_values)
        elif action == "delete":
            del out[key]
        else:
            out[data.draw(hostile_text(12))] = data.draw(json_values)
        return out
    if isinstance(document, list) and document and depth < 6:
        index = data.draw(st.integers(0, len(document) - 1))
        out_list = list(document)
        out_list[index] = mutate(document[index], data, depth + 1)
        return out_list
    return data.draw(json_values)


def check_program_file(tmp_path: Path, raw: bytes) -> None:
    """load_program gives a Program or a ProgramFileError naming problems, nothing else."""
    path = tmp_path / "hypercare.yaml"
    path.write_bytes(raw)
    try:
        program = load_program(path)
    except ProgramFileError as error:
        assert error.problems and all(isinstance(p, str) and p for p in error.problems)
    else:
        assert isinstance(program, Program)


@PURE
@given(data=st.data())
def test_a_mutated_program_file_is_valid_or_a_clear_validation_error(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """The example program with any value replaced, removed or added validates or names why."""
    document = mutate(copy.deepcopy(EXAMPLE), data)
    raw = yaml.safe_dump(document, allow_unicode=True, default_flow_style=False).encode()
    check_program_file(tmp_path_factory.mktemp("program"), raw)


@PURE
@given(st.one_of(st.binary(max_size=300), hostile_text(300).map(str.encode)))
@example(b"\xff\xfe not utf-8")
@example(b"a: [1, 2\n")
@example(b"- just\n- a list\n")
@example(b"&a [*a, *a]")
@example(b"!!python/object:os.system {}")
@example(("[" * 2000).encode())
def test_a_program_file_of_arbitrary_bytes_is_a_clear_error(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    """Bytes that are not a program (binary, broken YAML, a list, tags) give a ProgramFileError."""
    check_program_file(tmp_path_factory.mktemp("program"), raw)


# -- metric expositions --------------------------------------------------------------------------

GOOD = (
    b"# HELP kong_http_requests_total Requests\n"
    b"# TYPE kong_http_requests_total counter\n"
    b'kong_http_requests_total{service="checkout",code="200"} 1027\n'
    b'kong_http_requests_total{service="checkout",code="500"} 3\n'
    b"# TYPE kong_latency_ms histogram\n"
    b'kong_latency_ms_bucket{service="checkout",le="100"} 10\n'
    b'kong_latency_ms_bucket{service="checkout",le="+Inf"} 12\n'
    b'kong_latency_ms_count{service="checkout"} 12\n'
    b'kong_latency_ms_sum{service="checkout"} 801.5\n'
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "",
        "text/plain; version=0.0.4; charset=utf-8",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        "text/html",
        "application/json",
    ]
)
exposition_lines = st.sampled_from(
    [
        b"# EOF",
        b"# TYPE x counter",
        b"# TYPE x histogram",
        b"# TYPE x gauge",
        b"# HELP x \\n help",
        b"x 1",
        b"x_total -1",
        b"x NaN",
        b"x +Inf",
        b'x{le="NaN"} 1',
        b'x_bucket{le="1"} 1',
        b'x{a="\\"} 1',
        b'x{a="b",a="c"} 1',
        b"x 1 1700000000000",
        b'x_total 1 # {trace_id="a"} 1',
        b"<html>",
        b"",
    ]
)


def mangled(data: st.DataObject) -> bytes:
    """The good exposition cut, spliced with exposition-like lines or with arbitrary bytes."""
    how = data.draw(st.sampled_from(["cut", "splice", "garbage"]))
    if how == "cut":
        return GOOD[: data.draw(st.integers(0, len(GOOD)))]
    if how == "splice":
        lines = GOOD.split(b"\n")
        extra = data.draw(st.lists(exposition_lines | st.binary(max_size=20), max_size=6))
        at = data.draw(st.integers(0, len(lines)))
        return b"\n".join(lines[:at] + extra + lines[at:])
    return data.draw(st.binary(max_size=400))


CANARY = b"canary-body-secret-7f3a"


@PURE
@given(data=st.data(), content_type=CONTENT_TYPES)
def test_any_exposition_parses_to_samples_or_an_exposition_error(
    data: st.DataObject, content_type: str | None
) -> None:
    """Whatever the body, the parser returns samples or raises ExpositionError, and its message
    never quotes the body."""
    body = mangled(data).replace(b"checkout", CANARY)
    try:
        samples = parse_exposition(body, content_type)
    except ExpositionError as error:
        assert CANARY.decode() not in str(error)
    else:
        assert all(isinstance(s.value, float) for s in samples)


@PURE
@given(data=st.data())
def test_a_garbled_scrape_is_a_source_failure_never_a_crash(data: st.DataObject) -> None:
    """A source serving any body reads as a scrape or a parse-error failure, and logs no crash."""
    body = mangled(data)
    status = data.draw(st.sampled_from([200, 200, 200, 500, 404]))
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"Content-Type": "text/plain"})
    )
    source = ExpositionSource(
        "gw",
        "http://127.0.0.1:9/metrics",
        timeout=2,
        client=httpx.Client(transport=transport),
        allowed_hosts=["127.0.0.1"],
    )
    with Recorded("bot.integrations.prometheus") as records:
        result = source.read(dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC))
    assert isinstance(result, Scrape | ScrapeFailure)
    if isinstance(result, ScrapeFailure) and status == 200:
        assert result.kind in (FailureKind.PARSE_ERROR, FailureKind.TOO_LARGE)
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []


# -- Jira webhook events --------------------------------------------------------------------------


def jira_event(key: Any, to: Any, category: Any, timestamp: Any) -> dict[str, Any]:
    """A Jira issue-updated event shaped like the real one, with the given parts."""
    return {
        "webhookEvent": "jira:issue_updated",
        "timestamp": timestamp,
        "user": {"displayName": to},
        "issue": {"key": key, "fields": {"status": {"name": to, "statusCategory": category}}},
        "changelog": {"items": [{"field": "status", "toString": to}]},
    }


@PURE
@given(
    st.one_of(
        json_values,
        st.builds(
            jira_event,
            json_values,
            json_values,
            st.one_of(json_values, st.fixed_dictionaries({"key": json_values})),
            st.one_of(json_values, st.integers(), st.floats()),
        ),
    )
)
@example(jira_event("HYP-1", "Done", {"key": "done"}, 10**20))
@example(jira_event("HYP-1", "Done", {"key": "done"}, float("nan")))
@example(jira_event("HYP-1", "Done", {"key": "done"}, -(10**16)))
@example(jira_event(["HYP-1"], {"a": 1}, "done", None))
def test_a_jira_event_of_any_shape_is_a_status_change_or_nothing(event: Any) -> None:
    """status_change() reads a change out of an event or returns None; any shape, no crash."""
    if not isinstance(event, dict):
        return  # the endpoint refuses non-objects before asking (see the e2e webhook test)
    change = status_change(event)
    if change is not None:
        key, status, _category, actor, at = change
        assert isinstance(key, str) and isinstance(status, str) and len(actor) <= 100
        assert at.tzinfo is not None


# -- Slack payload fields and command text --------------------------------------------------------


def views(data: st.DataObject) -> dict[str, Any]:
    """A view of any shape: state values missing, mistyped or holding arbitrary values."""
    block_ids = st.sampled_from(
        ["summary", "severity", "category", "users_affected", "channel", "same-as", "reason"]
    )
    element = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["static_select", "conversations_select", "plain_text_input"])
            | json_values,
            "value": json_values,
            "selected_option": json_values | st.fixed_dictionaries({"value": json_values}),
            "selected_conversation": json_values,
        },
    )
    values = st.dictionaries(
        block_ids | hostile_text(10),
        st.one_of(json_values, st.dictionaries(st.just("input") | hostile_text(5), element)),
        max_size=6,
    )
    view = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "id": json_values,
                "state": st.one_of(json_values, st.fixed_dictionaries({"values": values})),
                "private_metadata": json_values,
                "blocks": st.lists(json_values | st.fixed_dictionaries({"block_id": json_values})),
            },
        )
    )
    return view


@PURE
@given(data=st.data(), reporter=hostile_text(20))
def test_any_submitted_view_reads_as_a_draft(data: st.DataObject, reporter: str) -> None:
    """Form readers take any view shape (missing, mistyped or arbitrary values) without raising."""
    view = views(data)
    assert isinstance(forms.draft_from_view(view, reporter_id=reporter), FeedbackDraft)
    forms.lookup_from_view(view)
    forms.same_as(view)
    assert isinstance(forms.same_as_block(view), str)
    choice, reason, alert_id = forms.silence_from_view(view)
    assert isinstance(choice, str) and isinstance(reason, str)
    assert alert_id is None or alert_id >= 0
    assert isinstance(forms.text_input(view, "reason"), str)
    forms.metadata_id(view)


@PURE
@given(json_values)
@example("feedback:99999999999999999999")
@example("²")
@example("1²")
@example("alert:-1")
def test_any_button_value_reads_as_an_id_or_nothing(value: Any) -> None:
    """Button values and private metadata forged to anything (Unicode digits such as "²"
    included) give an id, an item reference or None."""
    number = forms.numeric_id({"value": value})
    assert number is None or 0 <= number < 10**12
    assert forms.metadata_id({"private_metadata": value}) in (None, number)
    ItemRef.parse(value)


NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
command_words = st.sampled_from(
    ["override", "<@U0BOB>", "until", "for", "on", "tomorrow", "fri", "18:00", "4h", "primary"]
)


@PURE
@given(
    st.one_of(
        hostile_text(),
        st.lists(command_words | hostile_text(12), max_size=6).map(" ".join),
    )
)
@example("ticket HC-1")
@example("known HC-1 <!channel> &amp; <@U1|x>")
@example("merge HC-1 into HC-2")
@example("override <@U0BOB> until 0001-01-01 09:00")
@example("override <@U0BOB> until 9999-12-31 23:59")
@example("override <@U0BOB> for 999999999999999999d")
def test_any_command_text_is_routed_or_answered(text: str) -> None:
    """Command text of any kind reads as a reference, an override, a known or merge request,
    or a summary; an override that cannot be read is a syntax error, never another error."""
    forms.is_help(text)
    forms.ticket_reference(text)
    forms.escalate_reference(text)
    forms.known_command(text)
    forms.merge_command(text)
    assert isinstance(forms.plain_command_text(text), str)
    if (override := forms.override_text(text)) is not None:
        try:
            request = parse_override(
                override, ZoneInfo("Europe/Berlin"), NOW, ("primary", "secondary"), "primary"
            )
        except OverrideSyntaxError:
            return
        assert isinstance(request, OverrideRequest) and request.until > NOW


@PURE
@given(json_values.map(json.dumps) | hostile_text(60))
def test_private_metadata_of_any_content_reads_as_a_source_or_none(metadata: str) -> None:
    """A feedback form's private_metadata, whatever Slack carries back, gives a draft."""
    view = {"id": "V1", "private_metadata": metadata}
    assert isinstance(forms.draft_from_view(view, reporter_id="U0ALICE"), FeedbackDraft)
