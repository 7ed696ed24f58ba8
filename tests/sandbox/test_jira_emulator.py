"""Tests for the Jira REST emulator, driven through the real `jira` library and httpx."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from jira import JIRA, JIRAError

from sandbox.jira.api import JiraEmulator
from tests.support import wait_until

EMAIL = "bot@example.com"
TOKEN = "jira-test-token"
PAT = "dc-pat-0123"
SECRET = "webhook-secret-xyz"
JIRA_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


class Clock:
    """A settable clock for the emulator, so relative JQL dates are deterministic."""

    def __init__(self) -> None:
        """Start at 2026-11-23 09:00 UTC."""
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward, e.g. advance(minutes=5)."""
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    """A clock starting at 2026-11-23 09:00 UTC."""
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[JiraEmulator]:
    """A started Cloud emulator with a webhook secret, stopped after the test."""
    with JiraEmulator(webhook_secret=SECRET, clock=clock) as emulator:
        yield emulator


@pytest.fixture
def jira(emu: JiraEmulator) -> JIRA:
    """The real `jira` client against the Cloud emulator, without retries."""
    return JIRA(server=emu.url, basic_auth=(EMAIL, TOKEN), timeout=(2, 5), max_retries=0)


@pytest.fixture
def dc() -> Iterator[JiraEmulator]:
    """A started Data Center emulator (serverInfo says "Server") accepting a PAT."""
    with JiraEmulator(deployment="Server", pat=PAT) as emulator:
        yield emulator


@pytest.fixture
def dc_jira(dc: JiraEmulator) -> JIRA:
    """The real `jira` client against the Data Center emulator, with token auth."""
    return JIRA(server=dc.url, token_auth=PAT, timeout=(2, 5), max_retries=0)


def bug(**overrides: Any) -> dict[str, Any]:
    """A create-issue `fields` dict like the bot sends, with overrides."""
    fields: dict[str, Any] = {
        "project": {"key": "HYP"},
        "issuetype": {"name": "Bug"},
        "summary": "Checkout fails with card payments",
        "description": "h2. What happened\nThe *pay* button spins.",
        "priority": {"name": "High"},
        "components": [{"name": "Payments API"}],
        "labels": ["hc-fb-1", "hypercare"],
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def create(client: JIRA, **overrides: Any) -> str:
    """Create a bug through the client and return its key."""
    return str(client.create_issue(fields=bug(**overrides), prefetch=False).key)


def http(emu: JiraEmulator, timeout: float = 2.0) -> httpx.Client:
    """An httpx client with the Cloud credentials."""
    return httpx.Client(base_url=emu.url, auth=(EMAIL, TOKEN), timeout=timeout)


def error_text(failure: pytest.ExceptionInfo[JIRAError]) -> str:
    """The raw response body of a JIRAError."""
    assert failure.value.response is not None
    return str(failure.value.response.text)


def search(emu: JiraEmulator, jql: str, **params: Any) -> httpx.Response:
    """GET /rest/api/2/search/jql with httpx."""
    with http(emu) as client:
        return client.get("/rest/api/2/search/jql", params={"jql": jql, **params})


def keys(emu: JiraEmulator, jql: str) -> list[str]:
    """The keys /search/jql returns for `jql`, in order."""
    answer = search(emu, jql, fields="key")
    assert answer.status_code == 200, answer.text
    return [issue["key"] for issue in answer.json()["issues"]]


# -- identity and auth -----------------------------------------------------------------------------


def test_url_is_loopback_site_root(emu: JiraEmulator) -> None:
    """url is what a user puts in JIRA_URL: http://127.0.0.1:PORT with no path."""
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)


def test_cloud_server_info_is_detected_by_the_client(jira: JIRA) -> None:
    """serverInfo reports deploymentType Cloud, so the client switches to Cloud behaviour."""
    info = jira.server_info()
    assert info["deploymentType"] == "Cloud"
    assert jira._is_cloud
    assert info["versionNumbers"][0] >= 1000


def test_data_center_server_info_and_pat(dc_jira: JIRA, dc: JiraEmulator) -> None:
    """The Server deployment reports "Server" and accepts its PAT as a Bearer token."""
    assert not dc_jira._is_cloud
    assert dc_jira.server_info()["versionNumbers"][:2] == [9, 12]
    assert dc_jira.myself()["name"] == "hypercare-bot"


def test_bad_cloud_credentials_get_401(emu: JiraEmulator) -> None:
    """A wrong API token is refused with 401 and Jira's error shape; serverInfo stays anonymous."""
    client = JIRA(server=emu.url, basic_auth=(EMAIL, "wrong"), timeout=(2, 5), max_retries=0)
    with pytest.raises(JIRAError) as failure:
        client.create_issue(fields=bug(), prefetch=False)
    assert failure.value.status_code == 401
    assert "not authenticated" in error_text(failure)
    assert emu.calls_to("GET", "/rest/api/2/serverInfo")[0].status == 200
    assert emu.issues() == []


def test_data_center_refuses_basic_auth_and_wrong_pat(dc: JiraEmulator) -> None:
    """Data Center accepts only `Authorization: Bearer <PAT>`."""
    with httpx.Client(base_url=dc.url, timeout=2) as client:
        basic = client.get("/rest/api/2/myself", auth=(EMAIL, TOKEN))
        wrong = client.get("/rest/api/2/myself", headers={"Authorization": "Bearer nope"})
        right = client.get("/rest/api/2/myself", headers={"Authorization": f"Bearer {PAT}"})
    assert (basic.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert basic.json() == {"errorMessages": [basic.json()["errorMessages"][0]], "errors": {}}


# -- catalogue -------------------------------------------------------------------------------------


def test_catalogue_endpoints(jira: JIRA, emu: JiraEmulator) -> None:
    """Project, components, priorities, issue types and fields come from the catalogue."""
    emu.add_component("Search")
    emu.add_priority("Blocker", "6")
    project = jira.project("HYP")
    assert (project.id, project.key) == ("10000", "HYP")
    assert [c.name for c in jira.project_components("HYP")] == [
        "Payments API",
        "Checkout UI",
        "Search",
    ]
    assert [(p.id, p.name) for p in jira.priorities()][:5] == [
        ("1", "Highest"),
        ("2", "High"),
        ("3", "Medium"),
        ("4", "Low"),
        ("5", "Lowest"),
    ]
    assert [(t.id, t.name) for t in jira.issue_types()] == [("10001", "Bug"), ("10002", "Task")]
    assert {"summary", "labels", "components"} <= {f["id"] for f in jira.fields()}
    with http(emu) as client:
        expanded = client.get("/rest/api/2/project/HYP", params={"expand": "issueTypes"}).json()
        missing = client.get("/rest/api/2/project/NOPE")
    assert [t["name"] for t in expanded["issueTypes"]] == ["Bug", "Task"]
    assert missing.status_code == 404


def test_createmeta_shapes(emu: JiraEmulator, dc: JiraEmulator, dc_jira: JIRA) -> None:
    """Create metadata uses `issueTypes`/`fields` on Cloud and `values` on Data Center."""
    emu.add_custom_field("customfield_10050", "Severity", kind="option", options=["S1", "S2"])
    with http(emu) as client:
        types = client.get("/rest/api/2/issue/createmeta/HYP/issuetypes").json()
        fields = client.get("/rest/api/2/issue/createmeta/HYP/issuetypes/10001").json()
        legacy = client.get(
            "/rest/api/2/issue/createmeta",
            params={"projectKeys": "HYP", "expand": "projects.issuetypes.fields"},
        ).json()
    assert [t["name"] for t in types["issueTypes"]] == ["Bug", "Task"] and types["total"] == 2
    by_id = {f["fieldId"]: f for f in fields["fields"]}
    assert by_id["summary"]["required"] and not by_id["labels"]["required"]
    assert by_id["priority"]["allowedValues"][0]["name"] == "Highest"
    assert [v["name"] for v in by_id["components"]["allowedValues"]] == [
        "Payments API",
        "Checkout UI",
    ]
    assert [v["value"] for v in by_id["customfield_10050"]["allowedValues"]] == ["S1", "S2"]
    assert by_id["customfield_10050"]["schema"]["customId"] == 10050
    bug_type = legacy["projects"][0]["issuetypes"][0]
    assert bug_type["fields"]["summary"]["required"] is True
    assert [t.name for t in dc_jira.project_issue_types("HYP")] == ["Bug", "Task"]
    dc_fields = dc_jira.project_issue_fields("HYP", "10001")
    assert "priority" in {f.fieldId for f in dc_fields}
    with httpx.Client(base_url=dc.url, headers={"Authorization": f"Bearer {PAT}"}) as client:
        assert client.get("/rest/api/2/issue/createmeta").status_code == 404  # removed in DC 9
        assert client.get("/rest/api/2/issue/createmeta/HYP/issuetypes").json()["isLast"]


# -- creating issues -------------------------------------------------------------------------------


def test_create_issue_returns_key_and_stores_fields(jira: JIRA, emu: JiraEmulator) -> None:
    """A create the way the bot sends it answers 201 with the key; the issue starts in To Do."""
    assert create(jira) == "HYP-1"
    assert create(jira, summary="Second") == "HYP-2"
    created = emu.calls_to("POST", "/rest/api/2/issue")[0]
    assert created.status == 201
    assert created.response == {
        "id": "10000",
        "key": "HYP-1",
        "self": f"{emu.url}/rest/api/2/issue/10000",
    }
    fields = emu.issue("HYP-1")["fields"]
    assert fields["summary"] == "Checkout fails with card payments"
    assert fields["priority"]["name"] == "High" and fields["priority"]["id"] == "2"
    assert [c["name"] for c in fields["components"]] == ["Payments API"]
    assert fields["labels"] == ["hc-fb-1", "hypercare"]
    assert fields["status"]["name"] == "To Do"
    assert fields["status"]["statusCategory"]["key"] == "new"
    assert fields["created"] == fields["updated"] == "2026-11-23T09:00:00.000+0000"
    assert fields["resolutiondate"] is None
    assert fields["reporter"]["emailAddress"] == EMAIL
    assert [i["key"] for i in emu.issues()] == ["HYP-1", "HYP-2"]


def test_create_by_ids_and_default_priority(jira: JIRA, emu: JiraEmulator) -> None:
    """Project, issue type and components also resolve by id; no priority means Medium."""
    key = create(
        jira,
        project={"id": "10000"},
        issuetype={"id": "10002"},
        components=[{"id": "10001"}],
        priority=None,
    )
    fields = emu.issue(key)["fields"]
    assert fields["issuetype"]["name"] == "Task"
    assert fields["components"][0]["name"] == "Checkout UI"
    assert fields["priority"]["name"] == "Medium"


def test_get_issue_and_unknown_issue(jira: JIRA) -> None:
    """GET issue returns the stored fields; an unknown key is Jira's 404."""
    key = create(jira)
    issue = jira.issue(key)
    assert issue.fields.summary == "Checkout fails with card payments"
    assert issue.fields.components[0].name == "Payments API"
    with pytest.raises(JIRAError) as failure:
        jira.issue("HYP-99")
    assert failure.value.status_code == 404
    assert "does not exist" in error_text(failure)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"summary": "x" * 256}, "summary", "Summary must be less than 255 characters."),
        ({"summary": None}, "summary", "You must specify a summary of the issue."),
        ({"summary": "two\nlines"}, "summary", "contains newline characters"),
        ({"priority": {"name": "Urgent"}}, "priority", "Priority name 'Urgent' is not valid"),
        ({"components": [{"name": "Nope"}]}, "components", "Component name 'Nope' is not valid"),
        ({"labels": ["has space"]}, "labels", "contains spaces"),
        ({"labels": ["x" * 256]}, "labels", "exceeds the maximum length"),
        ({"description": {"type": "doc"}}, "description", "Operation value must be a string"),
        ({"description": "d" * 32768}, "description", "exceeds the allowed limit of 32,767"),
        ({"issuetype": {"name": "Epic"}}, "issuetype", "valid issue type is required"),
        ({"project": {"key": "NOPE"}}, "project", "valid project is required"),
        (
            {"customfield_10099": "x"},
            "customfield_10099",
            "Field 'customfield_10099' cannot be set. It is not on the appropriate screen, "
            "or unknown.",
        ),
    ],
)
def test_create_validation_errors(
    jira: JIRA, emu: JiraEmulator, overrides: dict[str, Any], field: str, message: str
) -> None:
    """Invalid create requests fail with 400, the field's message, and store nothing."""
    with pytest.raises(JIRAError) as failure:
        create(jira, **overrides)
    assert failure.value.status_code == 400
    assert message in error_text(failure)
    assert message in json.loads(error_text(failure))["errors"][field]
    assert emu.issues() == []


def test_declared_custom_fields_and_required_fields(jira: JIRA, emu: JiraEmulator) -> None:
    """Declared custom fields are accepted and type-checked; required fields are enforced."""
    emu.add_custom_field("customfield_10010", "Slack link")
    emu.add_custom_field(
        "customfield_10011", "Team", kind="option", options=["Core"], required=True
    )
    emu.require_field("components")
    with pytest.raises(JIRAError) as failure:
        create(jira, components=None, customfield_10010=5)
    errors = json.loads(error_text(failure))["errors"]
    assert errors == {
        "customfield_10010": "Operation value must be a string",
        "customfield_10011": "Team is required.",
        "components": "Components is required.",
    }
    key = create(
        jira, customfield_10010="https://x.slack.com/p1", customfield_10011={"value": "Core"}
    )
    fields = emu.issue(key)["fields"]
    assert fields["customfield_10010"] == "https://x.slack.com/p1"
    assert fields["customfield_10011"]["value"] == "Core"


def test_update_section_is_refused_loudly(emu: JiraEmulator) -> None:
    """An `update` block on create is refused rather than silently ignored."""
    with http(emu) as client:
        answer = client.post("/rest/api/2/issue", json={"fields": bug(), "update": {"labels": []}})
        empty = client.post("/rest/api/2/issue", json={"fields": bug(), "update": {}})
    assert answer.status_code == 400
    assert empty.status_code == 201


def test_non_json_body_is_415(emu: JiraEmulator) -> None:
    """A form-encoded body is refused with 415 as Jira does."""
    with http(emu) as client:
        answer = client.post("/rest/api/2/issue", data={"summary": "x"})
    assert answer.status_code == 415


# -- search ----------------------------------------------------------------------------------------


def test_enhanced_search_finds_issue_by_label(jira: JIRA) -> None:
    """enhanced_search_issues (Cloud's /search/jql) finds the issue by its label."""
    key = create(jira)
    create(jira, labels=["hc-fb-2"])
    found = jira.enhanced_search_issues('labels = "hc-fb-1"')
    assert [issue.key for issue in found] == [key]
    assert found[0].fields.status.name == "To Do"


def test_search_jql_defaults_to_ids_and_has_no_total(jira: JIRA, emu: JiraEmulator) -> None:
    """/search/jql returns bare ids unless fields are asked for, and never a `total`."""
    create(jira)
    plain = search(emu, "project = HYP").json()
    assert plain == {"issues": [{"id": "10000"}], "isLast": True}
    wanted = search(emu, "project = HYP", fields="summary,status").json()
    assert set(wanted["issues"][0]["fields"]) == {"summary", "status"}
    assert wanted["issues"][0]["key"] == "HYP-1"


def test_search_jql_post_and_paging(jira: JIRA, emu: JiraEmulator) -> None:
    """POST /search/jql pages with nextPageToken until isLast."""
    for n in range(5):
        create(jira, summary=f"issue {n}")
    seen: list[str] = []
    token: str | None = None
    with http(emu) as client:
        while True:
            body: dict[str, Any] = {"jql": "project = HYP ORDER BY key", "maxResults": 2}
            body |= {"fields": ["key"]} | ({"nextPageToken": token} if token else {})
            page = client.post("/rest/api/2/search/jql", json=body).json()
            seen += [issue["key"] for issue in page["issues"]]
            if page["isLast"]:
                assert "nextPageToken" not in page
                break
            token = page["nextPageToken"]
        forged = client.get(
            "/rest/api/2/search/jql", params={"jql": "project = HYP", "nextPageToken": "x"}
        )
    assert seen == [f"HYP-{n}" for n in range(1, 6)]
    assert forged.status_code == 400


def test_old_search_is_gone_on_cloud(emu: JiraEmulator) -> None:
    """Cloud answers the removed /search with 410 and the migration message."""
    with http(emu) as client:
        answer = client.get("/rest/api/2/search", params={"jql": "project = HYP"})
        posted = client.post("/rest/api/2/search", json={"jql": "project = HYP"})
    assert answer.status_code == posted.status_code == 410
    assert "Please migrate to the /rest/api/3/search/jql API" in answer.json()["errorMessages"][0]


def test_data_center_search_uses_old_endpoint(dc_jira: JIRA, dc: JiraEmulator) -> None:
    """On Data Center search_issues hits /search (with `total`); /search/jql does not exist."""
    key = create(dc_jira)
    found = dc_jira.search_issues('labels = "hc-fb-1"')
    assert [issue.key for issue in found] == [key]
    assert found.total == 1
    assert dc.calls_to("GET", "/rest/api/2/search")[-1].path == "/rest/api/2/search"
    with httpx.Client(base_url=dc.url, headers={"Authorization": f"Bearer {PAT}"}) as client:
        assert client.get("/rest/api/2/search/jql", params={"jql": "x = y"}).status_code == 404


def test_unbounded_jql_is_refused_on_search_jql(emu: JiraEmulator) -> None:
    """/search/jql refuses a query without any restriction, as Cloud does."""
    answer = search(emu, "ORDER BY key DESC")
    assert answer.status_code == 400
    assert "Unbounded JQL" in answer.json()["errorMessages"][0]


def test_jql_quoting_escapes_and_in_lists(jira: JIRA, emu: JiraEmulator) -> None:
    """Quoted values take backslash escapes; `in` lists and AND combine."""
    create(jira, labels=['a"b'])
    create(jira, labels=["plain"])
    create(jira, labels=["other"], priority={"name": "Low"})
    assert keys(emu, r'labels = "a\"b"') == ["HYP-1"]
    assert keys(emu, "labels = 'a\"b'") == ["HYP-1"]
    assert keys(emu, 'labels in ("plain", other) ORDER BY key ASC') == ["HYP-2", "HYP-3"]
    assert keys(emu, "labels in (plain, other) AND priority = Low") == ["HYP-3"]
    assert keys(emu, "project = hyp AND key in (HYP-1, hyp-3) ORDER BY key DESC") == [
        "HYP-3",
        "HYP-1",
    ]
    assert keys(emu, "(labels = plain OR labels = other) AND NOT priority = Low") == ["HYP-2"]


def test_jql_status_and_time(jira: JIRA, emu: JiraEmulator, clock: Clock) -> None:
    """status, absolute and relative `updated` comparisons follow the emulator clock."""
    first = create(jira)
    clock.advance(minutes=10)
    second = create(jira)
    clock.advance(minutes=1)
    emu.transition(first, "Done")  # bumps `updated` of the first issue to 09:11
    clock.advance(minutes=3)
    assert keys(emu, 'status = "Done"') == [first]
    assert keys(emu, "status in ('To Do', 'In Progress')") == [second]
    assert keys(emu, "project = HYP AND updated >= -5m ORDER BY updated ASC") == [second, first]
    assert keys(emu, "project = HYP AND created >= -3m") == []
    assert keys(emu, "created >= '-1h 5m' ORDER BY created") == [first, second]
    assert keys(emu, 'created >= "2026-11-23 09:05"') == [second]
    assert keys(emu, 'updated < "2026/11/23 09:11" AND resolutiondate is EMPTY') == [second]
    assert keys(emu, "resolved >= -1h") == [first]


def test_jql_order_by_updated(jira: JIRA, emu: JiraEmulator, clock: Clock) -> None:
    """ORDER BY updated sorts both ways; without ORDER BY the newest issue comes first."""
    for _ in range(3):
        create(jira)
        clock.advance(minutes=1)
    emu.comment("HYP-1", "a human comment bumps updated")
    assert keys(emu, "project = HYP ORDER BY updated DESC") == ["HYP-1", "HYP-3", "HYP-2"]
    assert keys(emu, "project = HYP ORDER BY updated ASC") == ["HYP-2", "HYP-3", "HYP-1"]
    assert keys(emu, "project = HYP") == ["HYP-3", "HYP-2", "HYP-1"]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("foo = bar", "Field 'foo' does not exist"),
        ("labels bar", "Expecting operator but got 'bar'"),
        ('labels = "open', "The quoted string 'open' has not been completed"),
        ("labels = ", "Expecting either a value, list or function but got 'EOF'"),
        ("labels = a AND", "Expecting a field name but got 'EOF'"),
        ("labels = a b", "Expecting either 'OR' or 'AND' but got 'b'"),
        ("labels in (a, b", "Expecting ')' but got 'EOF'"),
        ("status = Nope", "The value 'Nope' does not exist for the field 'status'"),
        ("key = HYP-42", "An issue with key 'HYP-42' does not exist for field 'key'"),
        ("labels > a", "The operator '>' is not supported by the 'labels' field"),
        ('updated >= "yesterday"', "Date value 'yesterday' for field 'updated' is invalid"),
        ("labels = a ORDER BY labels", "Field 'labels' does not support sorting"),
        ("labels = a*", "The character '*' is a reserved JQL character"),
    ],
)
def test_bad_jql_is_400(emu: JiraEmulator, jql: str, message: str) -> None:
    """Unknown fields, values, operators and syntax errors are Jira-style 400s."""
    answer = search(emu, jql)
    assert answer.status_code == 400
    assert message in answer.json()["errorMessages"][0]


def test_jql_error_reports_position(emu: JiraEmulator) -> None:
    """Syntax errors carry Jira's (line, character) position."""
    answer = search(emu, "labels bar")
    assert answer.json()["errorMessages"][0].endswith("(line 1, character 8)")


# -- workflow and comments -------------------------------------------------------------------------


def test_transitions_over_rest(jira: JIRA, emu: JiraEmulator, clock: Clock) -> None:
    """Transitions are offered per status; Done sets resolutiondate and Reopen clears it."""
    key = create(jira)
    assert [(t["id"], t["name"]) for t in jira.transitions(key)] == [
        ("11", "Start progress"),
        ("21", "Done"),
    ]
    jira.transition_issue(key, "11")
    clock.advance(minutes=1)
    jira.transition_issue(key, "Done")
    fields = emu.issue(key)["fields"]
    assert fields["status"]["name"] == "Done"
    assert fields["status"]["statusCategory"]["key"] == "done"
    assert fields["resolutiondate"] == "2026-11-23T09:01:00.000+0000"
    assert fields["resolution"]["name"] == "Done"
    assert [t["name"] for t in jira.transitions(key)] == ["Reopen"]
    with pytest.raises(JIRAError) as failure:
        jira.transition_issue(key, "11")
    assert failure.value.status_code == 400
    assert "Transition id '11' is not valid for this issue." in error_text(failure)
    jira.transition_issue(key, "31")
    assert emu.issue(key)["fields"]["resolutiondate"] is None


def test_comments_over_rest(jira: JIRA, emu: JiraEmulator) -> None:
    """add_comment answers 201 with the comment; GET comment and comments() list it."""
    key = create(jira)
    comment = jira.add_comment(key, "Fixed in *build 42*")
    assert comment.body == "Fixed in *build 42*"
    assert [c.body for c in jira.comments(key)] == ["Fixed in *build 42*"]
    assert emu.comments(key)[0]["author"]["displayName"] == "Hypercare Bot"
    assert JIRA_TIME.match(emu.comments(key)[0]["created"])
    with pytest.raises(JIRAError) as failure:
        jira.add_comment(key, "   ")
    assert failure.value.status_code == 400


def test_human_transition_records_changelog(jira: JIRA, emu: JiraEmulator, clock: Clock) -> None:
    """transition() follows the workflow, records a status changelog item and bumps updated."""
    key = create(jira)
    clock.advance(hours=1)
    emu.transition(key, "In Progress", by="Dana Dev")
    issue = emu.issue(key)
    assert issue["fields"]["updated"] == "2026-11-23T10:00:00.000+0000"
    history = issue["changelog"]["histories"][-1]
    assert history["author"]["displayName"] == "Dana Dev"
    assert history["items"] == [
        {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": "10000",
            "fromString": "To Do",
            "to": "3",
            "toString": "In Progress",
        }
    ]
    with pytest.raises(ValueError, match="no transition to 'To Do'"):
        emu.transition(key, "To Do")


def test_delete_issue_helper(jira: JIRA, emu: JiraEmulator) -> None:
    """A deleted issue is gone from GET and search, and its key is not reused."""
    key = create(jira)
    emu.delete_issue(key)
    with pytest.raises(JIRAError):
        jira.issue(key)
    assert create(jira) == "HYP-2"


# -- recording -------------------------------------------------------------------------------------


def test_calls_are_recorded_with_query_and_body(jira: JIRA, emu: JiraEmulator) -> None:
    """Each request is recorded with method, path, query, decoded body and status."""
    emu.reset_calls()
    create(jira)
    jira.enhanced_search_issues('labels = "hc-fb-1"', fields="summary")
    post = emu.calls_to("POST", "/rest/api/2/issue")[0]
    assert post.body["fields"]["labels"] == ["hc-fb-1", "hypercare"]
    found = emu.calls_to("GET", "/rest/api/2/search/jql")[0]
    assert found.query["jql"] == 'labels = "hc-fb-1"'
    assert found.query["fields"] == "summary"
    assert emu.calls_to("GET", "/rest/api/2/issue") == []
    assert emu.wait_for("POST", "/rest/api/2/issue", timeout=0.1) == [post]


def test_wait_for_times_out_with_a_listing(emu: JiraEmulator) -> None:
    """wait_for raises AssertionError listing what was received."""
    with http(emu) as client:
        client.get("/rest/api/2/myself")
    with pytest.raises(AssertionError, match=r"GET /rest/api/2/myself 200"):
        emu.wait_for("POST", "/rest/api/2/issue", timeout=0.05)


def test_wait_for_wakes_on_a_call_from_another_thread(emu: JiraEmulator) -> None:
    """wait_for returns as soon as a matching call arrives."""

    def later() -> None:
        with http(emu) as client:
            client.post("/rest/api/2/issue", json={"fields": bug()})

    threading.Timer(0.05, later).start()
    assert emu.wait_for("POST", "/rest/api/2/issue", timeout=2)[0].status == 201


# -- failure injection -----------------------------------------------------------------------------


def test_fail_next_503_then_recovers(jira: JIRA, emu: JiraEmulator) -> None:
    """fail_next answers the matching request with a Jira-shaped 503, once."""
    emu.fail_next("POST", "/rest/api/2/issue")
    with pytest.raises(JIRAError) as failure:
        create(jira)
    assert failure.value.status_code == 503
    assert json.loads(error_text(failure))["errorMessages"] == ["Service Unavailable"]
    assert create(jira) == "HYP-1"
    assert [c.status for c in emu.calls_to("POST", "/rest/api/2/issue")] == [503, 201]


def test_fail_next_429_carries_rate_limit_headers(emu: JiraEmulator) -> None:
    """A 429 with retry_after carries integer Retry-After and X-RateLimit-* headers."""
    emu.fail_next("GET", "/rest/api/2/myself", status=429, retry_after=1.5, times=2)
    with http(emu) as client:
        first = client.get("/rest/api/2/myself")
        second = client.get("/rest/api/2/myself")
        third = client.get("/rest/api/2/myself")
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "0"
    assert "X-RateLimit-Limit" in first.headers
    assert emu.wait_for("GET", "/rest/api/2/myself", count=2, status=429, timeout=0.1)


def test_fail_next_matches_by_path_segment(emu: JiraEmulator) -> None:
    """A prefix failure hits paths below it but not siblings sharing a string prefix."""
    emu.fail_next("GET", "/rest/api/2/issue", status=500)
    with http(emu) as client:
        assert client.get("/rest/api/2/issuetype").status_code == 200
        assert client.get("/rest/api/2/issue/HYP-1").status_code == 500


def test_hang_next_exceeds_a_read_timeout(emu: JiraEmulator) -> None:
    """hang_next delays the answer beyond a client's read timeout, then answers normally."""
    emu.hang_next("GET", "/rest/api/2/myself", seconds=1.5)
    with http(emu, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/rest/api/2/myself")
        assert client.get("/rest/api/2/myself").status_code == 200


def test_zero_second_hang_is_not_a_failure(emu: JiraEmulator) -> None:
    """hang_next with 0 seconds delays nothing and never turns into an error answer."""
    emu.hang_next("GET", "/rest/api/2/myself", seconds=0)
    with http(emu) as client:
        assert client.get("/rest/api/2/myself").status_code == 200


def test_drop_after_create_loses_the_answer_not_the_issue(emu: JiraEmulator, jira: JIRA) -> None:
    """drop_after_create stores the issue but closes the connection without a response."""
    emu.drop_after_create()
    with http(emu) as client, pytest.raises(httpx.RemoteProtocolError):
        client.post("/rest/api/2/issue", json={"fields": bug()})
    assert [i["key"] for i in emu.issues()] == ["HYP-1"]
    assert emu.calls_to("POST", "/rest/api/2/issue")[0].dropped
    assert create(jira) == "HYP-2"  # the next create is answered normally


def test_commit_late_hides_the_issue_until_it_commits_with_its_earlier_stamp(
    emu: JiraEmulator, jira: JIRA, clock: Clock
) -> None:
    """A late-committed create is unseen until it commits, keeping its earlier key and created."""
    emu.commit_late(60)
    answers: list[int] = []

    def first() -> None:
        with http(emu, timeout=30) as client:
            answers.append(client.post("/rest/api/2/issue", json={"fields": bug()}).status_code)

    thread = threading.Thread(target=first)
    thread.start()
    wait_until(emu.held_creates)  # the create ran and holds its transaction open
    assert emu.held_creates() == ["HYP-1"] and emu.issues() == []
    assert keys(emu, 'labels = "hc-fb-1"') == []
    with pytest.raises(JIRAError):
        jira.issue("HYP-1")
    clock.advance(seconds=5)
    assert create(jira) == "HYP-2"  # a create that overtakes it
    emu.commit_held()
    thread.join(10)
    assert answers == [201] and emu.held_creates() == []
    assert keys(emu, 'labels = "hc-fb-1" ORDER BY created ASC') == ["HYP-1", "HYP-2"]
    first_created, second_created = (i["fields"]["created"] for i in emu.issues())
    assert first_created < second_created
    assert [c.status for c in emu.calls_to("POST", "/rest/api/2/issue")] == [201, 201]


def test_commit_late_commits_by_itself_after_the_delay(emu: JiraEmulator) -> None:
    """Without commit_held, a held create commits once its delay has passed."""
    emu.commit_late(0.2)
    with http(emu, timeout=10) as client:
        assert client.post("/rest/api/2/issue", json={"fields": bug()}).status_code == 201
    assert [i["key"] for i in emu.issues()] == ["HYP-1"]


def test_duplicate_links_read_both_ways_and_are_not_doubled(emu: JiraEmulator, jira: JIRA) -> None:
    """POST issueLink of type Duplicate links both issues once, however often it is sent."""
    first, second = create(jira), create(jira)
    link = {
        "type": {"name": "Duplicate"},
        "inwardIssue": {"key": second},
        "outwardIssue": {"key": first},
    }
    with http(emu) as client:
        assert client.post("/rest/api/2/issueLink", json=link).status_code == 201
        assert client.post("/rest/api/2/issueLink", json=link).status_code == 201
        types = client.get("/rest/api/2/issueLinkType").json()["issueLinkTypes"]
        unknown = client.post("/rest/api/2/issueLink", json=link | {"type": {"name": "Nope"}})
        missing = client.post(
            "/rest/api/2/issueLink", json=link | {"outwardIssue": {"key": "HYP-99"}}
        )
    assert "Duplicate" in [t["name"] for t in types]
    assert unknown.status_code == 404 and missing.status_code == 404
    assert emu.links(second) == [("duplicates", first)]
    assert emu.links(first) == [("is duplicated by", second)]
    [shown] = jira.issue(second).raw["fields"]["issuelinks"]
    assert shown["type"]["name"] == "Duplicate" and shown["outwardIssue"]["key"] == first


def test_go_down_503_and_refused_then_back_on_same_url(emu: JiraEmulator) -> None:
    """go_down answers 503 or refuses connections; come_back serves again on the same URL."""
    url = emu.url
    emu.go_down()
    with http(emu) as client:
        assert client.get("/rest/api/2/serverInfo").status_code == 503
    emu.come_back()
    emu.go_down(refuse=True)
    with http(emu, timeout=0.5) as client, pytest.raises(httpx.ConnectError):
        client.get("/rest/api/2/serverInfo")
    emu.come_back()
    assert emu.url == url
    with http(emu) as client:
        assert client.get("/rest/api/2/myself").status_code == 200


def test_rate_limit_answers_429_when_exceeded(emu: JiraEmulator) -> None:
    """set_rate_limit admits a burst, then 429s with Retry-After; None lifts it."""
    emu.set_rate_limit(2)
    with http(emu) as client:
        statuses = [client.get("/rest/api/2/myself").status_code for _ in range(5)]
        limited = client.get("/rest/api/2/myself")
        emu.set_rate_limit(None)
        after = client.get("/rest/api/2/myself")
    assert statuses[:2] == [200, 200] and 429 in statuses
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert after.status_code == 200


# -- webhooks --------------------------------------------------------------------------------------


class _Receiver(ThreadingHTTPServer):
    """A tiny webhook receiver that checks X-Hub-Signature like the bot must."""

    def __init__(self) -> None:
        """Bind an ephemeral loopback port."""
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []

    @property
    def url(self) -> str:
        """The webhook URL to hand to send_webhook."""
        return f"http://127.0.0.1:{self.server_address[1]}/jira/webhook"


class _ReceiverHandler(BaseHTTPRequestHandler):
    """Records each delivery and answers 200 for a valid signature, else 401."""

    server: _Receiver

    def do_POST(self) -> None:
        """Verify X-Hub-Signature over the raw body with a constant-time comparison."""
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        given = self.headers.get("X-Hub-Signature", "")
        ok = hmac.compare_digest(given.encode(), expected.encode())
        self.server.received.append((dict(self.headers.items()), json.loads(raw)))
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    """A webhook receiver on 127.0.0.1, served from a thread."""
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_webhook_is_signed_and_carries_delivery_headers(
    jira: JIRA, emu: JiraEmulator, receiver: _Receiver
) -> None:
    """send_webhook signs the raw body with HMAC-SHA256 and sends Jira's delivery headers."""
    key = create(jira)
    emu.transition(key, "Done", by="Dana Dev")
    event = emu.status_change_event(key)
    assert emu.send_webhook(receiver.url, event, identifier="wh-1", retry=2) == 200
    headers, body = receiver.received[0]
    assert headers["X-Atlassian-Webhook-Identifier"] == "wh-1"
    assert headers["X-Atlassian-Webhook-Retry"] == "2"
    assert body == event
    assert emu.send_webhook(receiver.url, event, signature="sha256=00") == 401


def test_status_change_event_shape(jira: JIRA, emu: JiraEmulator, clock: Clock) -> None:
    """status_change_event builds a jira:issue_updated payload from the last status change."""
    key = create(jira)
    with pytest.raises(LookupError):
        emu.status_change_event(key)
    clock.advance(minutes=5)
    emu.transition(key, "Done", by="Dana Dev")
    event = emu.status_change_event(key)
    assert event["webhookEvent"] == "jira:issue_updated"
    assert event["issue_event_type_name"] == "issue_generic"
    assert event["timestamp"] == int(datetime(2026, 11, 23, 9, 5, tzinfo=UTC).timestamp() * 1000)
    assert event["user"]["displayName"] == "Dana Dev"
    assert event["issue"]["key"] == key
    assert event["issue"]["fields"]["status"]["name"] == "Done"
    status_items = [i for i in event["changelog"]["items"] if i["field"] == "status"]
    assert status_items == [
        {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": "10000",
            "fromString": "To Do",
            "to": "10001",
            "toString": "Done",
        }
    ]


def test_webhook_without_secret_is_unsigned(receiver: _Receiver) -> None:
    """Without a webhook secret no X-Hub-Signature is sent (and the receiver refuses it)."""
    with JiraEmulator() as plain:
        assert plain.send_webhook(receiver.url, {"webhookEvent": "jira:issue_updated"}) == 401
    assert "X-Hub-Signature" not in receiver.received[0][0]


def test_webhooks_only_go_to_loopback(emu: JiraEmulator) -> None:
    """The sandbox refuses to deliver webhooks off the machine."""
    with pytest.raises(ValueError, match="loopback"):
        emu.send_webhook("http://example.com/hook", {})


def test_users_are_searched_by_email_and_issues_assigned_with_a_changelog(
    jira: JIRA, emu: JiraEmulator
) -> None:
    """user/search finds a person by e-mail; PUT assignee sets (and null clears) the assignee,
    each with an `assignee` changelog item; an unknown account is a 400."""
    key = create(jira)
    emu.add_user("Bob Builder", "bob@example.com")
    [bob] = jira._get_json("user/search", params={"query": "BOB@example.com"})
    assert (
        bob["displayName"] == "Bob Builder"
        and jira._get_json("user/search", params={"query": "nobody@example.com"}) == []
    )
    url = jira._get_url(f"issue/{key}/assignee")
    jira._session.put(url, data=json.dumps({"accountId": bob["accountId"]}))
    issue = emu.issue(key)
    assert issue["fields"]["assignee"]["emailAddress"] == "bob@example.com"
    change = issue["changelog"]["histories"][-1]["items"][0]
    assert (change["field"], change["toString"]) == ("assignee", "Bob Builder")
    with pytest.raises(JIRAError) as failure:
        jira._session.put(url, data=json.dumps({"accountId": "nope"}))
    assert failure.value.status_code == 400
    emu.assign(key, None, by="Dana Dev")
    cleared = emu.issue(key)
    assert cleared["fields"]["assignee"] is None
    assert cleared["changelog"]["histories"][-1]["author"]["displayName"] == "Dana Dev"
