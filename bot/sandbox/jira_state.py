"""The Jira emulator's site: catalogue, issues, create validation, workflow, JQL and JSON shapes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

JsonDict = dict[str, Any]
Predicate = Callable[["Issue"], bool]

SUMMARY_MAX = 255
TEXT_MAX = 32767  # description, environment, text areas and comments
LABEL_MAX = 255
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
NOT_A_STRING = "Operation value must be a string"
NOT_AN_ARRAY = "data was not an array"
CANNOT_SET = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"

# statusCategory key -> (id, name, colour), as Jira Cloud and Data Center ship them.
_CATEGORIES: dict[str, tuple[int, str, str]] = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
# The system fields a create request may set (they are on the default create screen).
_SETTABLE: dict[str, tuple[str, JsonDict]] = {
    "project": ("Project", {"type": "project", "system": "project"}),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}),
    "summary": ("Summary", {"type": "string", "system": "summary"}),
    "description": ("Description", {"type": "string", "system": "description"}),
    "priority": ("Priority", {"type": "priority", "system": "priority"}),
    "components": ("Component/s", {"type": "array", "items": "component", "system": "components"}),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}),
    "assignee": ("Assignee", {"type": "user", "system": "assignee"}),
    "duedate": ("Due date", {"type": "date", "system": "duedate"}),
    "environment": ("Environment", {"type": "string", "system": "environment"}),
}
# Fields Jira sets itself; listed by GET /field but refused on create.
_READ_ONLY: dict[str, tuple[str, JsonDict]] = {
    "issuekey": ("Key", {}),
    "status": ("Status", {"type": "status", "system": "status"}),
    "resolution": ("Resolution", {"type": "resolution", "system": "resolution"}),
    "created": ("Created", {"type": "datetime", "system": "created"}),
    "updated": ("Updated", {"type": "datetime", "system": "updated"}),
    "resolutiondate": ("Resolved", {"type": "datetime", "system": "resolutiondate"}),
    "reporter": ("Reporter", {"type": "user", "system": "reporter"}),
    "creator": ("Creator", {"type": "user", "system": "creator"}),
    "comment": ("Comment", {"type": "comments-page", "system": "comment"}),
}
# Custom field kind -> (schema type, Jira's custom type key suffix).
_CUSTOM_KINDS: dict[str, tuple[JsonDict, str]] = {
    "string": ({"type": "string"}, "textfield"),
    "textarea": ({"type": "string"}, "textarea"),
    "number": ({"type": "number"}, "float"),
    "option": ({"type": "option"}, "select"),
    "labels": ({"type": "array", "items": "string"}, "labels"),
}
_CUSTOM_ID = re.compile(r"^customfield_(\d+)$")
_ISSUE_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")
_DUE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RESOLUTION_DONE: JsonDict = {
    "id": "10000",
    "name": "Done",
    "description": "Work has been completed.",
}


class JiraError(Exception):
    """A request Jira refuses: the HTTP status plus Jira's `errorMessages`/`errors` body."""

    def __init__(
        self, status: int, messages: Iterable[str] = (), errors: dict[str, str] | None = None
    ) -> None:
        """Build the Jira-shaped error body for `status`."""
        self.status = status
        self.body = error_body(messages, errors)
        super().__init__(f"{status} {self.body}")


def error_body(messages: Iterable[str] = (), errors: dict[str, str] | None = None) -> JsonDict:
    """Jira's error shape: `{"errorMessages": [...], "errors": {field: message}}`."""
    return {"errorMessages": list(messages), "errors": dict(errors or {})}


def jira_time(moment: datetime) -> str:
    """A timestamp the way Jira writes it: `2026-11-23T09:00:00.000+0000`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass
class Project:
    """A project of the catalogue."""

    id: str
    key: str
    name: str


@dataclass
class Named:
    """A catalogue entry known by id and name: issue type, priority or component."""

    id: str
    name: str
    project_key: str = ""  # components only


@dataclass
class Status:
    """A workflow status and its category key (new, indeterminate, done)."""

    id: str
    name: str
    category: str


@dataclass
class Transition:
    """A workflow transition into `to`, offered from `sources` (empty: from everywhere)."""

    id: str
    name: str
    to: str
    sources: tuple[str, ...]


@dataclass
class CustomField:
    """A declared custom field; `kind` is one of string, textarea, number, option, labels."""

    id: str
    name: str
    kind: str
    required: bool
    options: list[str]


@dataclass
class Issue:
    """One stored issue; rendered to JSON on the way out."""

    id: str
    key: str
    number: int
    project: Project
    issuetype: Named
    summary: str
    status: Status
    created: datetime
    updated: datetime
    reporter: JsonDict
    description: str | None = None
    environment: str | None = None
    priority: Named | None = None
    components: list[Named] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    assignee: JsonDict | None = None
    duedate: str | None = None
    resolutiondate: datetime | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    comments: list[JsonDict] = field(default_factory=list)
    histories: list[JsonDict] = field(default_factory=list)


class JiraSite:
    """Catalogue, issues and rules of one emulated Jira site; the caller holds the lock."""

    def __init__(self, *, cloud: bool, project_key: str, clock: Callable[[], datetime]) -> None:
        """Seed the default catalogue: one project, Bug/Task, five priorities, a 3-step workflow."""
        self.cloud = cloud
        self._clock = clock
        self.base_url = "http://127.0.0.1"
        self.projects: list[Project] = []
        self.issue_types: list[Named] = []
        self.priorities: list[Named] = []
        self.components: list[Named] = []
        self.statuses: list[Status] = []
        self.workflow: list[Transition] = []
        self.custom_fields: dict[str, CustomField] = {}
        self.required: set[str] = set()
        self.default_priority = "Medium"  # Jira fills the scheme's default when none is sent
        self.issues: list[Issue] = []
        self._next_id = {"issue": 10000, "comment": 10000, "history": 10100, "component": 10000}
        self._numbers: dict[str, int] = {}
        self.add_project(project_key, "Hypercare", "10000")
        self.issue_types += [Named("10001", "Bug"), Named("10002", "Task")]
        for number, name in enumerate(("Highest", "High", "Medium", "Low", "Lowest"), start=1):
            self.priorities.append(Named(str(number), name))
        for name in ("Payments API", "Checkout UI"):
            self.add_component(name, None, project_key)
        self.statuses += [
            Status("10000", "To Do", "new"),
            Status("3", "In Progress", "indeterminate"),
            Status("10001", "Done", "done"),
        ]
        self.workflow += [
            Transition("11", "Start progress", "In Progress", ("To Do",)),
            Transition("21", "Done", "Done", ("To Do", "In Progress")),
            Transition("31", "Reopen", "To Do", ("Done",)),
        ]
        self.bot_user: JsonDict = {}

    # -- catalogue ---------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The site clock in UTC, at Jira's millisecond precision."""
        moment = self._clock()
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def add_project(self, key: str, name: str, id: str | None = None) -> Project:
        """Register a project; ids count up from 10000."""
        project = Project(id or str(10000 + len(self.projects)), key.upper(), name)
        self.projects.append(project)
        return project

    def add_component(self, name: str, id: str | None, project_key: str) -> Named:
        """Register a component of one project."""
        project = self.find_project(project_key)
        if project is None:
            raise KeyError(f"no project {project_key}")
        if id is None:
            id = str(self._next_id["component"])
            self._next_id["component"] += 1
        component = Named(id, name, project.key)
        self.components.append(component)
        return component

    def find_project(self, ref: str, *, by_name: bool = False) -> Project | None:
        """A project by key (any case) or id, and by name too where JQL allows it."""
        for project in self.projects:
            if ref.upper() == project.key or ref == project.id:
                return project
            if by_name and ref.lower() == project.name.lower():
                return project
        return None

    def find_status(self, ref: str) -> Status | None:
        """A status by name (any case) or id."""
        return next(
            (s for s in self.statuses if ref.lower() == s.name.lower() or ref == s.id), None
        )

    def user(self, display_name: str, email: str | None = None) -> JsonDict:
        """A user object as the deployment shows it: accountId on Cloud, name/key on Server."""
        slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-") or "user"
        base = f"{self.base_url}/rest/api/2/user"
        if self.cloud:
            account = hashlib.sha256(display_name.encode()).hexdigest()[:24]
            user: JsonDict = {"self": f"{base}?accountId={account}", "accountId": account}
        else:
            user = {"self": f"{base}?username={slug}", "name": slug, "key": slug}
        if email is not None:
            user["emailAddress"] = email
        user.update(displayName=display_name, active=True, timeZone="Etc/UTC")
        if self.cloud:
            user["accountType"] = "atlassian"
        return user

    # -- creating issues ---------------------------------------------------------------------------

    def create_issue(self, body: Any, reporter: JsonDict) -> Issue:
        """Validate a create request as Jira does and store the issue in the initial status."""
        if not isinstance(body, dict) or not isinstance(body.get("fields", {}), dict):
            raise JiraError(400, ["Can not deserialize the request: 'fields' must be an object."])
        if body.get("update"):
            # Silently ignoring would let a test pass against behaviour Jira has and we lack.
            raise JiraError(400, ["The Jira emulator does not support 'update' on create."])
        fields: JsonDict = body.get("fields", {})
        errors: dict[str, str] = {}
        project = self._project_ref(fields.get("project"), errors)
        issuetype = self._issuetype_ref(fields.get("issuetype"), errors)
        if project is None or issuetype is None:
            raise JiraError(400, [], errors)
        for name in fields:
            if name not in _SETTABLE and name not in self.custom_fields:
                errors[name] = CANNOT_SET.format(name)
        summary = self._summary(fields.get("summary"), errors)
        description = self._long_text(fields, "description", errors)
        environment = self._long_text(fields, "environment", errors)
        priority = self._priority(fields.get("priority"), errors)
        components = self._components(fields.get("components"), project, errors)
        labels = self._labels(fields.get("labels"), "labels", errors)
        assignee = self._assignee(fields.get("assignee"), errors)
        duedate = self._duedate(fields.get("duedate"), errors)
        custom = {
            cf.id: self._custom_value(cf, fields[cf.id], errors)
            for cf in self.custom_fields.values()
            if fields.get(cf.id) is not None
        }
        given = {
            "priority": "priority" in fields and fields["priority"] is not None,
            "components": bool(components),
            "labels": bool(labels),
            "description": bool(description),
            "environment": bool(environment),
            "assignee": assignee is not None,
            "duedate": duedate is not None,
        }
        for required in sorted(
            self.required | {c.id for c in self.custom_fields.values() if c.required}
        ):
            if not given.get(required, custom.get(required) not in (None, "", [])):
                errors.setdefault(required, f"{self.field_name(required)} is required.")
        if errors:
            raise JiraError(400, [], errors)
        if priority is None and "priority" not in fields:
            priority = next((p for p in self.priorities if p.name == self.default_priority), None)
        number = self._numbers.get(project.key, 0) + 1
        self._numbers[project.key] = number
        now = self.now()
        issue = Issue(
            id=str(self._take_id("issue")),
            key=f"{project.key}-{number}",
            number=number,
            project=project,
            issuetype=issuetype,
            summary=summary,
            status=self._initial_status(),
            created=now,
            updated=now,
            reporter=reporter,
            description=description,
            environment=environment,
            priority=priority,
            components=components,
            labels=labels,
            assignee=assignee,
            duedate=duedate,
            custom=custom,
        )
        self.issues.append(issue)
        return issue

    def field_name(self, field_id: str) -> str:
        """The display name of a system or custom field."""
        if field_id in self.custom_fields:
            return self.custom_fields[field_id].name
        if field_id == "components" and self.cloud:
            return "Components"  # Cloud renamed "Component/s"
        return (_SETTABLE.get(field_id) or _READ_ONLY.get(field_id) or (field_id, {}))[0]

    def _take_id(self, kind: str) -> int:
        """The next id of a counter."""
        value = self._next_id[kind]
        self._next_id[kind] += 1
        return value

    def _initial_status(self) -> Status:
        """The status new issues start in: the first of category 'new'."""
        return next((s for s in self.statuses if s.category == "new"), self.statuses[0])

    def _project_ref(self, value: Any, errors: dict[str, str]) -> Project | None:
        """Resolve `{"key": ..}` or `{"id": ..}`."""
        if value is None:
            errors["project"] = "project is required"
            return None
        if not isinstance(value, dict) or not (value.get("key") or value.get("id")):
            errors["project"] = "Could not find valid 'id' or 'key' in project object."
            return None
        ref = str(value.get("id") or value.get("key"))
        project = next((p for p in self.projects if ref in (p.id, p.key)), None)
        if project is None:
            errors["project"] = "valid project is required"
        return project

    def _issuetype_ref(self, value: Any, errors: dict[str, str]) -> Named | None:
        """Resolve `{"id": ..}` or `{"name": ..}`."""
        if value is None:
            errors["issuetype"] = (
                "Specify an issue type" if self.cloud else "issue type is required"
            )
            return None
        if not isinstance(value, dict) or not (value.get("id") or value.get("name")):
            errors["issuetype"] = "Could not find valid 'id' or 'name' in issue type object."
            return None
        found = _by_id_or_name(self.issue_types, value)
        if found is None:
            errors["issuetype"] = "valid issue type is required"
        return found

    def _summary(self, value: Any, errors: dict[str, str]) -> str:
        """Summary: required, a single line of at most 255 characters."""
        if value is None or (isinstance(value, str) and not value.strip()):
            errors["summary"] = "You must specify a summary of the issue."
        elif not isinstance(value, str):
            errors["summary"] = NOT_A_STRING
        elif "\n" in value or "\r" in value:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        elif len(value) > SUMMARY_MAX:
            errors["summary"] = "Summary must be less than 255 characters."
        else:
            return value
        return ""

    def _long_text(self, fields: JsonDict, name: str, errors: dict[str, str]) -> str | None:
        """A v2 rich-text field: wiki markup as a plain string (an ADF object is refused)."""
        value = fields.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            errors[name] = NOT_A_STRING
        elif len(value) > TEXT_MAX:
            errors[name] = TOO_LONG
        else:
            return value
        return None

    def _priority(self, value: Any, errors: dict[str, str]) -> Named | None:
        """Priority by `{"name": ..}` or `{"id": ..}`."""
        if value is None:
            return None
        if not isinstance(value, dict) or not (value.get("id") or value.get("name")):
            errors["priority"] = "Could not find valid 'id' or 'name' in priority object."
            return None
        found = _by_id_or_name(self.priorities, value)
        if found is None:
            errors["priority"] = (
                "The priority selected is invalid."
                if value.get("id")
                else f"Priority name '{value['name']}' is not valid"
            )
        return found

    def _components(self, value: Any, project: Project, errors: dict[str, str]) -> list[Named]:
        """Components of the issue's project, by name or id."""
        if value is None:
            return []
        if not isinstance(value, list):
            errors["components"] = NOT_AN_ARRAY
            return []
        own = [c for c in self.components if c.project_key == project.key]
        found: list[Named] = []
        for entry in value:
            if not isinstance(entry, dict) or not (entry.get("id") or entry.get("name")):
                errors["components"] = "Could not find valid 'id' or 'name' in component object."
                return []
            component = _by_id_or_name(own, entry)
            if component is None:
                errors["components"] = (
                    f"Component with id '{entry['id']}' does not exist."
                    if entry.get("id")
                    else f"Component name '{entry['name']}' is not valid"
                )
                return []
            if component not in found:
                found.append(component)
        return found

    def _labels(self, value: Any, name: str, errors: dict[str, str]) -> list[str]:
        """Labels: strings without whitespace, each at most 255 characters; stored sorted."""
        if value is None:
            return []
        if not isinstance(value, list):
            errors[name] = NOT_AN_ARRAY
            return []
        for label in value:
            if not isinstance(label, str):
                errors[name] = NOT_A_STRING
            elif not label or re.search(r"\s", label):
                errors[name] = f"The label '{label}' contains spaces which is invalid."
            elif len(label) > LABEL_MAX:
                errors[name] = (
                    f"The label '{label}' exceeds the maximum length for a single label "
                    f"of {LABEL_MAX} characters."
                )
            else:
                continue
            return []
        return sorted(set(value))

    def _assignee(self, value: Any, errors: dict[str, str]) -> JsonDict | None:
        """An assignee by accountId (Cloud) or name (Server); the emulator knows no user list."""
        if value is None:
            return None
        ref = value.get("accountId") or value.get("name") if isinstance(value, dict) else None
        if not isinstance(ref, str) or not ref:
            errors["assignee"] = "Could not find valid 'accountId' or 'name' in user object."
            return None
        user = self.user(ref)
        user.update({"accountId": ref} if self.cloud else {"name": ref, "key": ref})
        return user

    def _duedate(self, value: Any, errors: dict[str, str]) -> str | None:
        """A due date as `yyyy-MM-dd`."""
        if value is None:
            return None
        try:
            if isinstance(value, str) and _DUE_DATE.match(value):
                date.fromisoformat(value)
                return value
        except ValueError:
            pass
        errors["duedate"] = f"Error parsing date string: {value}"
        return None

    def _custom_value(self, cf: CustomField, value: Any, errors: dict[str, str]) -> Any:
        """Check a custom field value against its kind; return the value to store."""
        if cf.kind in ("string", "textarea"):
            limit = SUMMARY_MAX if cf.kind == "string" else TEXT_MAX
            if not isinstance(value, str):
                errors[cf.id] = NOT_A_STRING
            elif len(value) > limit:
                errors[cf.id] = TOO_LONG if cf.kind == "textarea" else f"{cf.name}: too long."
            return value
        if cf.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors[cf.id] = "Operation value must be a number"
            return value
        if cf.kind == "labels":
            return self._labels(value, cf.id, errors)
        # option: {"value": ..} or {"id": ..}; option ids are their 1-based positions.
        options = [Named(str(10000 + n), text) for n, text in enumerate(cf.options)]
        if not isinstance(value, dict) or not (value.get("value") or value.get("id")):
            errors[cf.id] = "Could not find valid 'id' or 'value' in the Parent Option object."
            return None
        chosen = _by_id_or_name(options, {"id": value.get("id"), "name": value.get("value")})
        if chosen is None:
            errors[cf.id] = (
                f"Option id '{value['id']}' is not valid"
                if value.get("id")
                else f"Option value '{value['value']}' is not valid"
            )
            return None
        return {"self": f"{self.base_url}/rest/api/2/customFieldOption/{chosen.id}"} | {
            "value": chosen.name,
            "id": chosen.id,
        }

    # -- reading and changing issues ---------------------------------------------------------------

    def find_issue(self, ref: str) -> Issue:
        """An issue by key (any case) or id; 404 the way Jira answers."""
        for issue in self.issues:
            if ref.upper() == issue.key or ref == issue.id:
                return issue
        raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])

    def transitions_for(self, issue: Issue) -> list[Transition]:
        """The transitions offered from the issue's current status."""
        return [t for t in self.workflow if not t.sources or issue.status.name in t.sources]

    def move(self, issue: Issue, transition: Transition, author: JsonDict) -> None:
        """Apply a transition: status, resolution, `updated`, and a changelog entry."""
        target = self.find_status(transition.to)
        if target is None:
            raise KeyError(f"transition {transition.id} leads to unknown status {transition.to}")
        before, now = issue.status, self.now()
        items: list[JsonDict] = []
        if target.category == "done" and before.category != "done":
            issue.resolutiondate = now
            items.append(_item("resolution", None, None, _RESOLUTION_DONE["id"], "Done"))
        elif target.category != "done" and before.category == "done":
            issue.resolutiondate = None
            items.append(_item("resolution", _RESOLUTION_DONE["id"], "Done", None, None))
        items.append(_item("status", before.id, before.name, target.id, target.name))
        issue.status, issue.updated = target, now
        issue.histories.append(
            {
                "id": str(self._take_id("history")),
                "author": author,
                "created": jira_time(now),
                "items": items,
            }
        )

    def add_comment(self, issue: Issue, body: Any, author: JsonDict) -> JsonDict:
        """Store a comment (wiki-markup string) and bump the issue's `updated`."""
        if not isinstance(body, str):
            raise JiraError(
                400,
                [],
                {"comment": "Comment body can not be empty!" if body is None else NOT_A_STRING},
            )
        if not body.strip():
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        if len(body) > TEXT_MAX:
            raise JiraError(400, [], {"comment": TOO_LONG})
        now, comment_id = self.now(), str(self._take_id("comment"))
        comment = {
            "self": f"{self.base_url}/rest/api/2/issue/{issue.id}/comment/{comment_id}",
            "id": comment_id,
            "author": author,
            "body": body,
            "updateAuthor": author,
            "created": jira_time(now),
            "updated": jira_time(now),
            "jsdPublic": True,
        }
        issue.comments.append(comment)
        issue.updated = now
        return comment

    # -- JSON shapes -------------------------------------------------------------------------------

    def issue_json(
        self, issue: Issue, wanted: FieldFilter | None = None, expand: str = ""
    ) -> JsonDict:
        """An issue as GET /issue and search return it, limited to the wanted fields."""
        wanted = wanted or FieldFilter(["*all"])
        if wanted.id_only:
            return {"id": issue.id}
        everything = self.issue_fields(issue)
        shown = {name: value for name, value in everything.items() if wanted.wants(name)}
        result: JsonDict = {
            "expand": _EXPAND,
            "id": issue.id,
            "self": f"{self.base_url}/rest/api/2/issue/{issue.id}",
            "key": issue.key,
            "fields": shown,
        }
        if "changelog" in expand.split(","):
            total = len(issue.histories)
            result["changelog"] = {
                "startAt": 0,
                "maxResults": total,
                "total": total,
                "histories": issue.histories,
            }
        return result

    def issue_fields(self, issue: Issue) -> JsonDict:
        """Every field of an issue in Jira's v2 JSON."""
        fields: JsonDict = {
            "summary": issue.summary,
            "description": issue.description,
            "environment": issue.environment,
            "labels": list(issue.labels),
            "priority": self.named_json(issue.priority, "priority") if issue.priority else None,
            "components": [self.named_json(c, "component") for c in issue.components],
            "status": self.status_json(issue.status),
            "issuetype": self.named_json(issue.issuetype, "issuetype"),
            "project": self.project_json(issue.project, brief=True),
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated),
            "resolutiondate": jira_time(issue.resolutiondate) if issue.resolutiondate else None,
            "resolution": (
                {"self": f"{self.base_url}/rest/api/2/resolution/10000", **_RESOLUTION_DONE}
                if issue.resolutiondate
                else None
            ),
            "assignee": issue.assignee,
            "reporter": issue.reporter,
            "creator": issue.reporter,
            "duedate": issue.duedate,
            "comment": {
                "comments": issue.comments,
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            },
        }
        for cf in self.custom_fields.values():
            fields[cf.id] = issue.custom.get(cf.id)
        return fields

    def named_json(self, entry: Named, kind: str) -> JsonDict:
        """An issue type, priority or component object."""
        result: JsonDict = {
            "self": f"{self.base_url}/rest/api/2/{kind}/{entry.id}",
            "id": entry.id,
            "name": entry.name,
        }
        if kind == "issuetype":
            result.update(description="", subtask=False, hierarchyLevel=0)
            result["iconUrl"] = f"{self.base_url}/images/icons/issuetypes/{entry.name.lower()}.svg"
        elif kind == "priority":
            result["iconUrl"] = f"{self.base_url}/images/icons/priorities/{entry.name.lower()}.svg"
        elif kind == "component":
            project = self.find_project(entry.project_key)
            result.update(project=entry.project_key, projectId=int(project.id) if project else 0)
            result["isAssigneeTypeValid"] = False
        return result

    def status_json(self, status: Status) -> JsonDict:
        """A status with its category."""
        number, name, colour = _CATEGORIES[status.category]
        category = {
            "self": f"{self.base_url}/rest/api/2/statuscategory/{number}",
            "id": number,
            "key": status.category,
            "colorName": colour,
            "name": name,
        }
        return {
            "self": f"{self.base_url}/rest/api/2/status/{status.id}",
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": category,
        }

    def project_json(
        self, project: Project, *, brief: bool = False, issue_types: bool = False
    ) -> JsonDict:
        """A project; `brief` is the shape embedded in issues."""
        result: JsonDict = {
            "self": f"{self.base_url}/rest/api/2/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
        }
        if brief:
            return result
        result.update(
            simplified=False, style="classic", lead=self.bot_user, assigneeType="UNASSIGNED"
        )
        result["components"] = [
            self.named_json(c, "component") for c in self.components if c.project_key == project.key
        ]
        if issue_types:
            result["issueTypes"] = [self.named_json(t, "issuetype") for t in self.issue_types]
        return result

    def transition_json(self, transition: Transition) -> JsonDict:
        """A transition as GET /issue/{key}/transitions lists it."""
        target = self.find_status(transition.to)
        return {
            "id": transition.id,
            "name": transition.name,
            "to": self.status_json(target) if target else None,
            "hasScreen": False,
            "isGlobal": not transition.sources,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }

    def all_fields_json(self) -> list[JsonDict]:
        """GET /field: system fields, then custom fields."""
        listed: list[JsonDict] = []
        for field_id, (_, schema) in (_SETTABLE | _READ_ONLY).items():
            name = self.field_name(field_id)
            entry: JsonDict = {"id": field_id, "key": field_id, "name": name, "custom": False}
            entry.update(orderable=field_id in _SETTABLE, navigable=True, searchable=True)
            entry["clauseNames"] = [field_id if field_id != "components" else "component"]
            if schema:
                entry["schema"] = schema
            listed.append(entry)
        for cf in self.custom_fields.values():
            number = _CUSTOM_ID.match(cf.id)
            entry = {"id": cf.id, "key": cf.id, "name": cf.name, "custom": True}
            entry.update(
                orderable=True, navigable=True, searchable=True, schema=self._custom_schema(cf)
            )
            entry["clauseNames"] = [f"cf[{number.group(1) if number else cf.id}]", cf.name]
            listed.append(entry)
        return listed

    def create_fields_json(self) -> list[JsonDict]:
        """The create-screen fields of every issue type, with allowed values as Jira lists them."""
        listed: list[JsonDict] = []
        for field_id, (_, schema) in _SETTABLE.items():
            entry = self._field_meta(
                field_id, schema, field_id in ("project", "issuetype", "summary")
            )
            if field_id == "priority":
                entry["allowedValues"] = [self.named_json(p, "priority") for p in self.priorities]
                entry["hasDefaultValue"] = True
            elif field_id == "components":
                entry["allowedValues"] = [self.named_json(c, "component") for c in self.components]
            elif field_id == "issuetype":
                entry["allowedValues"] = [self.named_json(t, "issuetype") for t in self.issue_types]
            elif field_id == "project":
                entry["allowedValues"] = [self.project_json(p, brief=True) for p in self.projects]
            listed.append(entry)
        for cf in self.custom_fields.values():
            entry = self._field_meta(cf.id, self._custom_schema(cf), cf.required)
            if cf.kind == "option":
                entry["allowedValues"] = [
                    {
                        "self": f"{self.base_url}/rest/api/2/customFieldOption/{10000 + n}",
                        "value": text,
                        "id": str(10000 + n),
                    }
                    for n, text in enumerate(cf.options)
                ]
            listed.append(entry)
        return listed

    def _field_meta(self, field_id: str, schema: JsonDict, required: bool) -> JsonDict:
        """One create-metadata field entry."""
        return {
            "required": required or field_id in self.required,
            "schema": schema,
            "name": self.field_name(field_id),
            "fieldId": field_id,
            "key": field_id,
            "hasDefaultValue": False,
            "operations": ["set"] if schema.get("type") != "array" else ["add", "set", "remove"],
        }

    def _custom_schema(self, cf: CustomField) -> JsonDict:
        """The schema Jira reports for a custom field."""
        schema, suffix = _CUSTOM_KINDS[cf.kind]
        number = _CUSTOM_ID.match(cf.id)
        extra: JsonDict = {"custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{suffix}"}
        if number:
            extra["customId"] = int(number.group(1))
        return schema | extra

    # -- search ------------------------------------------------------------------------------------

    def search(self, jql: str, *, strict: bool = True) -> tuple[list[Issue], bool]:
        """Issues matching `jql` in its order, and whether the query had a restriction."""
        query = JqlParser(jql, self, self.now(), strict).parse()
        found = [issue for issue in self.issues if query.where is None or query.where(issue)]
        found.sort(key=lambda i: int(i.id), reverse=not query.order)  # no ORDER BY: newest first
        for name, descending in reversed(query.order):
            found.sort(key=_sort_key(self, name, descending), reverse=descending)
        return found, query.where is not None


def _by_id_or_name(entries: list[Named], ref: JsonDict) -> Named | None:
    """Resolve `{"id": ..}` (exact) or `{"name": ..}` (any case) against catalogue entries."""
    if ref.get("id"):
        return next((e for e in entries if e.id == str(ref["id"])), None)
    name = str(ref.get("name", "")).lower()
    return next((e for e in entries if e.name.lower() == name), None)


def _item(
    field_id: str, old: str | None, old_text: str | None, new: str | None, new_text: str | None
) -> JsonDict:
    """A changelog item as Jira writes it into histories and webhook payloads."""
    return {
        "field": field_id,
        "fieldtype": "jira",
        "fieldId": field_id,
        "from": old,
        "fromString": old_text,
        "to": new,
        "toString": new_text,
    }


class FieldFilter:
    """The `fields` request parameter: names, `*all`, `*navigable`, and `-name` exclusions."""

    def __init__(
        self, specs: Iterable[str], default: str = "*all", *, bare_ids: bool = False
    ) -> None:
        """Parse comma lists (possibly repeated); with no positive entry use `default`."""
        names = [s.strip() for spec in specs for s in str(spec).split(",") if s.strip()]
        self.excluded = {n[1:] for n in names if n.startswith("-")}
        self.included = {n for n in names if not n.startswith("-")} or {default}
        # Jira's new search (bare_ids) returns {"id": ..} objects unless more is asked for.
        self.id_only = bare_ids and self.included <= {"id"}

    def wants(self, name: str) -> bool:
        """Whether the field `name` goes into the response."""
        if name in self.excluded:
            return False
        if "*all" in self.included:
            return True
        if "*navigable" in self.included:
            return name != "comment"
        return name in self.included


# -- JQL -------------------------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
_OPERATORS = ("!=", ">=", "<=", "!~", "=", ">", "<", "~")
_RESERVED = set("*;?|/%^$#@[]{}+")
_EQ = {"=", "!=", "in", "not in"}
_EMPTY = {"is", "is not"}
_DATES = {"=", "!=", ">", ">=", "<", "<="} | _EMPTY
# JQL field name -> (canonical field, supported operators).
_JQL_FIELDS: dict[str, tuple[str, set[str]]] = {
    "project": ("project", _EQ),
    "key": ("key", _EQ),
    "issuekey": ("key", _EQ),
    "id": ("key", _EQ),
    "labels": ("labels", _EQ | _EMPTY),
    "status": ("status", _EQ),
    "statuscategory": ("statuscategory", _EQ),
    "issuetype": ("issuetype", _EQ),
    "type": ("issuetype", _EQ),
    "priority": ("priority", _EQ | _EMPTY),
    "component": ("component", _EQ | _EMPTY),
    "summary": ("summary", {"~", "!~"} | _EMPTY),
    "created": ("created", _DATES),
    "createddate": ("created", _DATES),
    "updated": ("updated", _DATES),
    "updateddate": ("updated", _DATES),
    "resolutiondate": ("resolutiondate", _DATES),
    "resolved": ("resolutiondate", _DATES),
}
_ORDERABLE = {
    "key",
    "created",
    "updated",
    "resolutiondate",
    "priority",
    "status",
    "summary",
    "issuetype",
}
_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_PERIOD = re.compile(r"^([-+]?)\s*((?:\d+\s*[wdhm]\s*)+)$", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_PERIOD_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True)
class Token:
    """A JQL token: kind is word, string, op, '(', ')', ',' or eof; pos is 0-based."""

    kind: str
    text: str
    pos: int

    def keyword(self, *words: str) -> bool:
        """Whether this is an unquoted keyword among `words` (any case)."""
        return self.kind == "word" and self.text.lower() in words


@dataclass(frozen=True)
class Value:
    """A JQL operand: a word or quoted string, or a function call like now()."""

    text: str
    function: bool = False


@dataclass
class JqlQuery:
    """A parsed query: the filter (None when unrestricted) and ORDER BY (field, descending)."""

    where: Predicate | None
    order: list[tuple[str, bool]]


def _error_at(jql: str, pos: int, message: str) -> JiraError:
    """A JQL syntax error with Jira's '(line L, character C)' suffix."""
    line = jql.count("\n", 0, pos) + 1
    column = pos - (jql.rfind("\n", 0, pos) + 1) + 1
    return JiraError(400, [f"Error in the JQL Query: {message} (line {line}, character {column})"])


def tokenize(jql: str) -> list[Token]:
    """Split JQL into tokens; quoted strings take backslash escapes."""
    tokens: list[Token] = []
    i = 0
    while i < len(jql):
        char = jql[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            tokens.append(Token(char, char, i))
            i += 1
        elif jql.startswith(("&&", "||"), i):
            tokens.append(Token("word", "and" if char == "&" else "or", i))
            i += 2
        elif op := next((o for o in _OPERATORS if jql.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif char in "\"'":
            start = i
            text, i = _quoted(jql, i)
            tokens.append(Token("string", text, start))
        elif char in _RESERVED or char == "!":
            raise _error_at(
                jql,
                i,
                f"The character '{char}' is a reserved JQL character. You must enclose it in a "
                f"string or use the escape '\\u{ord(char):04x}' instead.",
            )
        else:
            start = i
            while (
                i < len(jql)
                and not jql[i].isspace()
                and jql[i] not in "(),=!<>~\"'"
                and jql[i] not in _RESERVED
            ):
                i += 1
            tokens.append(Token("word", jql[start:i], start))
    tokens.append(Token("eof", "EOF", len(jql)))
    return tokens


def _quoted(jql: str, start: int) -> tuple[str, int]:
    """Read a quoted string starting at `start`; returns (text, index after the closing quote)."""
    quote, i = jql[start], start + 1
    out: list[str] = []
    escapes = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", " ": " "}
    while i < len(jql):
        char = jql[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\":
            nxt = jql[i + 1 : i + 2]
            if nxt in escapes and nxt:
                out.append(escapes[nxt])
                i += 2
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", jql[i + 2 : i + 6]):
                out.append(chr(int(jql[i + 2 : i + 6], 16)))
                i += 6
                continue
            raise _error_at(
                jql, i, f"The escape sequence '\\{nxt}' in the quoted string is illegal."
            )
        out.append(char)
        i += 1
    raise _error_at(jql, start, f"The quoted string '{''.join(out)}' has not been completed.")


class JqlParser:
    """Recursive-descent parser for the JQL subset the bot uses, compiled to predicates."""

    def __init__(self, jql: str, site: JiraSite, now: datetime, strict: bool) -> None:
        """Tokenise `jql`; values are checked against `site` (unknown ones fail when strict)."""
        self.jql, self.site, self.now, self.strict = jql, site, now, strict
        self.tokens = tokenize(jql)
        self.index = 0

    @property
    def token(self) -> Token:
        """The current token."""
        return self.tokens[self.index]

    def advance(self) -> Token:
        """Consume and return the current token."""
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, message: str, token: Token | None = None) -> JiraError:
        """A syntax error at `token` (default: the current one)."""
        return _error_at(self.jql, (token or self.token).pos, message)

    def parse(self) -> JqlQuery:
        """query := [or_expr] [ORDER BY field [ASC|DESC] {, ...}] EOF."""
        where = None
        if self.token.kind != "eof" and not self.token.keyword("order"):
            where = self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.token.keyword("order"):
            self.advance()
            if not self.token.keyword("by"):
                raise self.fail(f"Expecting 'BY' but got '{self.token.text}'.")
            self.advance()
            order.append(self.order_item())
            while self.token.kind == ",":
                self.advance()
                order.append(self.order_item())
        if self.token.kind != "eof":
            expected = "either ',' or the end of the query" if order else "either 'OR' or 'AND'"
            raise self.fail(f"Expecting {expected} but got '{self.token.text}'.")
        return JqlQuery(where, order)

    def order_item(self) -> tuple[str, bool]:
        """One ORDER BY field with an optional direction (ASC by default)."""
        token = self.advance()
        if token.kind not in ("word", "string") or token.keyword(*_KEYWORDS):
            raise self.fail(f"Expecting a field name but got '{token.text}'.", token)
        known = _JQL_FIELDS.get(token.text.lower())
        if known is None:
            raise _unknown_field(token.text)
        if known[0] not in _ORDERABLE:
            raise JiraError(400, [f"Field '{token.text}' does not support sorting."])
        descending = False
        if self.token.keyword("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        return known[0], descending

    def or_expr(self) -> Predicate:
        """or_expr := and_expr {OR and_expr}."""
        parts = [self.and_expr()]
        while self.token.keyword("or"):
            self.advance()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else lambda issue: any(p(issue) for p in parts)

    def and_expr(self) -> Predicate:
        """and_expr := not_expr {AND not_expr}."""
        parts = [self.not_expr()]
        while self.token.keyword("and"):
            self.advance()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else lambda issue: all(p(issue) for p in parts)

    def not_expr(self) -> Predicate:
        """not_expr := NOT not_expr | '(' or_expr ')' | clause."""
        if self.token.keyword("not"):
            self.advance()
            inner = self.not_expr()
            return lambda issue: not inner(issue)
        if self.token.kind == "(":
            self.advance()
            inner = self.or_expr()
            if self.token.kind != ")":
                raise self.fail(f"Expecting ')' but got '{self.token.text}'.")
            self.advance()
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        """clause := field operator operand."""
        name = self.advance()
        if name.kind not in ("word", "string") or name.keyword(*_KEYWORDS):
            raise self.fail(
                f"Expecting a field name but got '{name.text}'. You must surround '{name.text}' "
                "in quotation marks to use it as a field name.",
                name,
            )
        operator = self.operator()
        if operator in ("in", "not in"):
            values = self.value_list()
        elif operator in _EMPTY:
            if not self.token.keyword("empty", "null"):
                raise self.fail(f"Expecting 'EMPTY' but got '{self.token.text}'.")
            self.advance()
            values = []
        elif self.token.keyword("empty", "null") and operator in ("=", "!="):
            self.advance()
            operator, values = ("is" if operator == "=" else "is not"), []
        else:
            values = [self.value()]
        known = _JQL_FIELDS.get(name.text.lower())
        if known is None:
            raise _unknown_field(name.text)
        canonical, operators = known
        if operator not in operators:
            raise JiraError(
                400,
                [f"The operator '{operator.upper()}' is not supported by the '{name.text}' field."],
            )
        return self.compile(canonical, name.text, operator, values)

    def operator(self) -> str:
        """=, !=, <, >, <=, >=, ~, !~, IN, NOT IN, IS, IS NOT."""
        token = self.advance()
        if token.kind == "op":
            return token.text
        if token.keyword("in"):
            return "in"
        if token.keyword("not") and self.token.keyword("in"):
            self.advance()
            return "not in"
        if token.keyword("is"):
            if self.token.keyword("not"):
                self.advance()
                return "is not"
            return "is"
        raise self.fail(
            f"Expecting operator but got '{token.text}'. The valid operators are '=', '!=', '<', "
            "'>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.",
            token,
        )

    def value(self) -> Value:
        """A word, a quoted string, or a function call."""
        token = self.advance()
        if token.kind == "string":
            return Value(token.text)
        if token.kind == "word" and not token.keyword(*_KEYWORDS):
            if self.token.kind == "(":
                self.advance()
                while self.token.kind not in (")", "eof"):
                    self.advance()
                if self.advance().kind != ")":
                    raise self.fail("Expecting ')' to close the function call.", token)
                return Value(token.text, function=True)
            return Value(token.text)
        raise self.fail(
            f"Expecting either a value, list or function but got '{token.text}'. You must surround "
            f"'{token.text}' in quotation marks to use it as a value.",
            token,
        )

    def value_list(self) -> list[Value]:
        """'(' value {, value} ')'."""
        if self.token.kind != "(":
            raise self.fail(f"Expecting '(' but got '{self.token.text}'.")
        self.advance()
        values = [self.value()]
        while self.token.kind == ",":
            self.advance()
            values.append(self.value())
        if self.token.kind != ")":
            raise self.fail(f"Expecting ')' but got '{self.token.text}'.")
        self.advance()
        return values

    # -- semantics ---------------------------------------------------------------------------------

    def compile(self, canonical: str, typed: str, operator: str, values: list[Value]) -> Predicate:
        """Turn a checked clause into a predicate on issues."""
        if canonical in ("created", "updated", "resolutiondate"):
            return self.date_clause(canonical, typed, operator, values)
        if canonical == "summary":
            if operator in _EMPTY:
                return lambda issue: (not issue.summary) == (operator == "is")
            terms = [t.lower() for t in re.findall(r"\w+", " ".join(v.text for v in values))]
            matches: Predicate = lambda issue: all(t in issue.summary.lower() for t in terms)  # noqa: E731
            return matches if operator == "~" else lambda issue: not matches(issue)
        current = _ATTRIBUTES[canonical]
        if operator in _EMPTY:
            return lambda issue: (not current(issue)) == (operator == "is")
        for value in values:
            if value.function:
                raise JiraError(400, [f"Unable to find JQL function '{value.text}()'."])
        wanted: set[str] = set()
        for value in values:
            wanted |= self.resolve(canonical, typed, value.text)
        if operator in ("=", "in"):
            return lambda issue: bool(current(issue) & wanted)
        return lambda issue: bool(current(issue)) and not current(issue) & wanted

    def resolve(self, canonical: str, typed: str, text: str) -> set[str]:
        """The ids a value stands for; unknown values are a 400 in strict mode."""
        site = self.site
        found: set[str]
        if canonical == "labels":
            return {text}
        if canonical == "key":
            match = _ISSUE_KEY.match(text)
            if not match and not text.isdigit():
                raise JiraError(400, [f"The issue key '{text}' for field '{typed}' is invalid."])
            found = {i.id for i in site.issues if text.upper() == i.key or text == i.id}
            if not found and self.strict:
                raise JiraError(
                    400, [f"An issue with key '{text}' does not exist for field '{typed}'."]
                )
            return found
        if canonical == "project":
            project = site.find_project(text, by_name=True)
            found = {project.id} if project else set()
        elif canonical == "status":
            found = {s.id for s in site.statuses if text.lower() == s.name.lower() or text == s.id}
        elif canonical == "statuscategory":
            found = {
                key
                for key, (number, name, _) in _CATEGORIES.items()
                if text.lower() in (key, name.lower(), str(number))
            }
        else:
            catalogue = {"issuetype": site.issue_types, "priority": site.priorities}.get(
                canonical, site.components
            )
            found = {e.id for e in catalogue if text.lower() == e.name.lower() or text == e.id}
        if not found and self.strict:
            raise JiraError(400, [f"The value '{text}' does not exist for the field '{typed}'."])
        return found

    def date_clause(
        self, canonical: str, typed: str, operator: str, values: list[Value]
    ) -> Predicate:
        """A comparison on created, updated or resolutiondate."""

        def stamp(issue: Issue) -> datetime | None:
            moment: datetime | None = getattr(issue, canonical)
            return moment

        if operator in _EMPTY:
            return lambda issue: (stamp(issue) is None) == (operator == "is")
        when = self.moment(values[0], typed)
        compare: dict[str, Callable[[datetime], bool]] = {
            "=": lambda m: m == when,
            "!=": lambda m: m != when,
            ">": lambda m: m > when,
            ">=": lambda m: m >= when,
            "<": lambda m: m < when,
            "<=": lambda m: m <= when,
        }
        test = compare[operator]
        return lambda issue: (moment := stamp(issue)) is not None and test(moment)

    def moment(self, value: Value, typed: str) -> datetime:
        """A JQL date: absolute (UTC), a period relative to now like -5m or '4w 2d', or now()."""
        if value.function:
            if value.text.lower() == "now":
                return self.now
            raise JiraError(400, [f"Unable to find JQL function '{value.text}()'."])
        text = value.text.strip()
        period = _PERIOD.match(text)
        if period:
            delta = timedelta()
            for amount, unit in _PERIOD_PART.findall(period.group(2)):
                delta += timedelta(**{_PERIOD_UNITS[unit.lower()]: int(amount)})
            return self.now - delta if period.group(1) == "-" else self.now + delta
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        raise JiraError(
            400,
            [
                f"Date value '{text}' for field '{typed}' is invalid. Valid formats include: "
                "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
                "format e.g. '-5d', '4w 2d'."
            ],
        )


def _unknown_field(name: str) -> JiraError:
    """Jira's answer to a field name it does not know."""
    return JiraError(
        400, [f"Field '{name}' does not exist or you do not have permission to view it."]
    )


# Canonical JQL field -> the ids an issue holds for it (empty set: the field is EMPTY).
_ATTRIBUTES: dict[str, Callable[[Issue], set[str]]] = {
    "project": lambda i: {i.project.id},
    "key": lambda i: {i.id},
    "labels": lambda i: set(i.labels),
    "status": lambda i: {i.status.id},
    "statuscategory": lambda i: {i.status.category},
    "issuetype": lambda i: {i.issuetype.id},
    "priority": lambda i: {i.priority.id} if i.priority else set(),
    "component": lambda i: {c.id for c in i.components},
}


def _sort_key(site: JiraSite, name: str, descending: bool) -> Callable[[Issue], tuple[int, Any]]:
    """A sort key for ORDER BY `name` that keeps EMPTY values last in either direction."""

    def value(issue: Issue) -> Any:
        if name == "key":
            return (issue.project.key, issue.number)
        if name == "priority":
            return -site.priorities.index(issue.priority) if issue.priority else None
        if name == "status":
            return site.statuses.index(issue.status)
        if name == "issuetype":
            return issue.issuetype.name.lower()
        if name == "summary":
            return issue.summary.lower()
        return getattr(issue, name)

    def key(issue: Issue) -> tuple[int, Any]:
        found = value(issue)
        if found is None:
            return (0, 0) if descending else (1, 0)
        return (1, found) if descending else (0, found)

    return key
