"""Jira's checks on what a client writes: the fields of a create request, and comment bodies.

Each check records Jira's own message under the field's id, so one bad request reports every bad
field at once, as Jira does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sandbox.jira.catalogue import SETTABLE_FIELDS, CustomField, Named, Project, by_id_or_name
from sandbox.jira.json import option_json
from sandbox.jira.wire import JiraError, JsonDict

if TYPE_CHECKING:
    from sandbox.jira.state import JiraSite

SUMMARY_MAX = 255
TEXT_MAX = 32767  # description, environment, text areas and comments
LABEL_MAX = 255
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
NOT_A_STRING = "Operation value must be a string"
NOT_AN_ARRAY = "data was not an array"
CANNOT_SET = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
_DUE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(kw_only=True)
class IssueFields:
    """The fields of an accepted create request, as the issue stores them."""

    project: Project
    issuetype: Named
    summary: str
    description: str | None = None
    environment: str | None = None
    priority: Named | None = None
    components: list[Named]
    labels: list[str]
    assignee: JsonDict | None = None
    duedate: str | None = None
    custom: dict[str, Any]


def check_create(site: JiraSite, body: Any) -> IssueFields:
    """The fields of a create request body, or the 400 Jira answers with every problem found."""
    if not isinstance(body, dict) or not isinstance(body.get("fields", {}), dict):
        raise JiraError(400, ["Can not deserialize the request: 'fields' must be an object."])
    if body.get("update"):
        # Silently ignoring would let a test pass against behaviour Jira has and we lack.
        raise JiraError(400, ["The Jira emulator does not support 'update' on create."])
    return _CreateCheck(site, body.get("fields", {})).run()


def check_comment(body: Any) -> str:
    """A comment body: a non-blank wiki-markup string of at most 32,767 characters."""
    if not isinstance(body, str):
        message = "Comment body can not be empty!" if body is None else NOT_A_STRING
        raise JiraError(400, [], {"comment": message})
    if not body.strip():
        raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
    if len(body) > TEXT_MAX:
        raise JiraError(400, [], {"comment": TOO_LONG})
    return body


class _CreateCheck:
    """One create request's fields being checked; problems collect in `errors`."""

    def __init__(self, site: JiraSite, fields: JsonDict) -> None:
        """Check `fields` against the catalogue of `site`."""
        self.site, self.catalogue, self.fields = site, site.catalogue, fields
        self.errors: dict[str, str] = {}

    def run(self) -> IssueFields:
        """Every field checked; project and issue type first, since the rest depend on them."""
        fields, catalogue, errors = self.fields, self.catalogue, self.errors
        project = self.project(fields.get("project"))
        issuetype = self.issuetype(fields.get("issuetype"))
        if project is None or issuetype is None:
            raise JiraError(400, [], errors)
        for name in fields:
            if name not in SETTABLE_FIELDS and name not in catalogue.custom_fields:
                errors[name] = CANNOT_SET.format(name)
        checked = IssueFields(
            project=project,
            issuetype=issuetype,
            summary=self.summary(fields.get("summary")),
            description=self.long_text("description"),
            environment=self.long_text("environment"),
            priority=self.priority(fields.get("priority")),
            components=self.components(fields.get("components"), project),
            labels=self.labels(fields.get("labels"), "labels"),
            assignee=self.assignee(fields.get("assignee")),
            duedate=self.duedate(fields.get("duedate")),
            custom={
                cf.id: self.custom_value(cf, fields[cf.id])
                for cf in catalogue.custom_fields.values()
                if fields.get(cf.id) is not None
            },
        )
        self.require(checked)
        if errors:
            raise JiraError(400, [], errors)
        if checked.priority is None and "priority" not in fields:
            checked.priority = next(
                (p for p in catalogue.priorities if p.name == catalogue.default_priority), None
            )
        return checked

    def require(self, checked: IssueFields) -> None:
        """Report each required system or custom field the request left empty."""
        given = {
            "priority": self.fields.get("priority") is not None,
            "components": bool(checked.components),
            "labels": bool(checked.labels),
            "description": bool(checked.description),
            "environment": bool(checked.environment),
            "assignee": checked.assignee is not None,
            "duedate": checked.duedate is not None,
        }
        custom_required = {c.id for c in self.catalogue.custom_fields.values() if c.required}
        for required in sorted(self.catalogue.required | custom_required):
            if not given.get(required, checked.custom.get(required) not in (None, "", [])):
                message = f"{self.catalogue.field_name(required)} is required."
                self.errors.setdefault(required, message)

    def well_formed(self, value: Any, field_id: str, noun: str, name_key: str = "name") -> bool:
        """Whether `value` is `{"id": ..}` or `{name_key: ..}`; if not, record Jira's message."""
        if isinstance(value, dict) and (value.get("id") or value.get(name_key)):
            return True
        self.errors[field_id] = f"Could not find valid 'id' or '{name_key}' in {noun} object."
        return False

    def array(self, value: Any, field_id: str) -> list[Any]:
        """The items of an array field: none when absent, none plus Jira's message if no array."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.errors[field_id] = NOT_AN_ARRAY
            return []
        return value

    def project(self, value: Any) -> Project | None:
        """Resolve `{"key": ..}` or `{"id": ..}`."""
        if value is None:
            self.errors["project"] = "project is required"
            return None
        if not isinstance(value, dict) or not (value.get("key") or value.get("id")):
            self.errors["project"] = "Could not find valid 'id' or 'key' in project object."
            return None
        ref = str(value.get("id") or value.get("key"))
        project = next((p for p in self.catalogue.projects if ref in (p.id, p.key)), None)
        if project is None:
            self.errors["project"] = "valid project is required"
        return project

    def issuetype(self, value: Any) -> Named | None:
        """Resolve `{"id": ..}` or `{"name": ..}`."""
        if value is None:
            self.errors["issuetype"] = (
                "Specify an issue type" if self.site.cloud else "issue type is required"
            )
            return None
        if not self.well_formed(value, "issuetype", "issue type"):
            return None
        found = by_id_or_name(self.catalogue.issue_types, value)
        if found is None:
            self.errors["issuetype"] = "valid issue type is required"
        return found

    def summary(self, value: Any) -> str:
        """Summary: required, a single line of at most 255 characters."""
        if value is None or (isinstance(value, str) and not value.strip()):
            self.errors["summary"] = "You must specify a summary of the issue."
        elif not isinstance(value, str):
            self.errors["summary"] = NOT_A_STRING
        elif "\n" in value or "\r" in value:
            self.errors["summary"] = (
                "The summary is invalid because it contains newline characters."
            )
        elif len(value) > SUMMARY_MAX:
            self.errors["summary"] = "Summary must be less than 255 characters."
        else:
            return value
        return ""

    def long_text(self, name: str) -> str | None:
        """A v2 rich-text field: wiki markup as a plain string (an ADF object is refused)."""
        value = self.fields.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.errors[name] = NOT_A_STRING
        elif len(value) > TEXT_MAX:
            self.errors[name] = TOO_LONG
        else:
            return value
        return None

    def priority(self, value: Any) -> Named | None:
        """Priority by `{"name": ..}` or `{"id": ..}`."""
        if value is None:
            return None
        if not self.well_formed(value, "priority", "priority"):
            return None
        found = by_id_or_name(self.catalogue.priorities, value)
        if found is None:
            self.errors["priority"] = (
                "The priority selected is invalid."
                if value.get("id")
                else f"Priority name '{value['name']}' is not valid"
            )
        return found

    def components(self, value: Any, project: Project) -> list[Named]:
        """Components of the issue's project, by name or id."""
        own = self.catalogue.components_of(project.key)
        found: list[Named] = []
        for entry in self.array(value, "components"):
            if not self.well_formed(entry, "components", "component"):
                return []
            component = by_id_or_name(own, entry)
            if component is None:
                self.errors["components"] = (
                    f"Component with id '{entry['id']}' does not exist."
                    if entry.get("id")
                    else f"Component name '{entry['name']}' is not valid"
                )
                return []
            if component not in found:
                found.append(component)
        return found

    def labels(self, value: Any, name: str) -> list[str]:
        """Labels: strings without whitespace, each at most 255 characters; stored sorted."""
        labels = self.array(value, name)
        for label in labels:
            if not isinstance(label, str):
                self.errors[name] = NOT_A_STRING
            elif not label or re.search(r"\s", label):
                self.errors[name] = f"The label '{label}' contains spaces which is invalid."
            elif len(label) > LABEL_MAX:
                self.errors[name] = (
                    f"The label '{label}' exceeds the maximum length for a single label "
                    f"of {LABEL_MAX} characters."
                )
            else:
                continue
            return []
        return sorted(set(labels))

    def assignee(self, value: Any) -> JsonDict | None:
        """An assignee by accountId (Cloud) or name (Server); the emulator knows no user list."""
        if value is None:
            return None
        ref = value.get("accountId") or value.get("name") if isinstance(value, dict) else None
        if not isinstance(ref, str) or not ref:
            self.errors["assignee"] = "Could not find valid 'accountId' or 'name' in user object."
            return None
        user = self.site.user(ref)
        user.update({"accountId": ref} if self.site.cloud else {"name": ref, "key": ref})
        return user

    def duedate(self, value: Any) -> str | None:
        """A due date as `yyyy-MM-dd`."""
        if value is None:
            return None
        try:
            if isinstance(value, str) and _DUE_DATE.match(value):
                date.fromisoformat(value)
                return value
        except ValueError:
            pass
        self.errors["duedate"] = f"Error parsing date string: {value}"
        return None

    def custom_value(self, cf: CustomField, value: Any) -> Any:
        """Check a custom field value against its kind; return the value to store."""
        if cf.kind in ("string", "textarea"):
            limit = SUMMARY_MAX if cf.kind == "string" else TEXT_MAX
            if not isinstance(value, str):
                self.errors[cf.id] = NOT_A_STRING
            elif len(value) > limit:
                self.errors[cf.id] = TOO_LONG if cf.kind == "textarea" else f"{cf.name}: too long."
            return value
        if cf.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.errors[cf.id] = "Operation value must be a number"
            return value
        if cf.kind == "labels":
            return self.labels(value, cf.id)
        # option: {"value": ..} or {"id": ..}
        if not self.well_formed(value, cf.id, "the Parent Option", "value"):
            return None
        ref = {"id": value.get("id"), "name": value.get("value")}
        chosen = by_id_or_name(cf.option_entries(), ref)
        if chosen is None:
            self.errors[cf.id] = (
                f"Option id '{value['id']}' is not valid"
                if value.get("id")
                else f"Option value '{value['value']}' is not valid"
            )
            return None
        return option_json(self.site, chosen)
