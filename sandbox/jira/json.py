"""The JSON shapes the emulated Jira answers with: issues (limited by `fields`), catalogue entries,
transitions, and the field lists of GET /field and the create metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sandbox.jira.catalogue import (
    CUSTOM_KINDS,
    READ_ONLY_FIELDS,
    RESOLUTION_DONE,
    SETTABLE_FIELDS,
    STATUS_CATEGORIES,
    CustomField,
    Named,
    Project,
    Status,
    Transition,
)
from sandbox.jira.wire import JsonDict, jira_time, whole_page

if TYPE_CHECKING:
    from sandbox.jira.state import Issue, JiraSite

_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
_CUSTOM_ID = re.compile(r"^customfield_(\d+)$")


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


# -- issues ----------------------------------------------------------------------------------------


def issue_json(
    site: JiraSite, issue: Issue, wanted: FieldFilter | None = None, expand: str = ""
) -> JsonDict:
    """An issue as GET /issue and search return it, limited to the wanted fields."""
    wanted = wanted or FieldFilter(["*all"])
    if wanted.id_only:
        return {"id": issue.id}
    everything = issue_fields(site, issue)
    shown = {name: value for name, value in everything.items() if wanted.wants(name)}
    result: JsonDict = {
        "expand": _EXPAND,
        "id": issue.id,
        "self": site.api_url("issue", issue.id),
        "key": issue.key,
        "fields": shown,
    }
    if "changelog" in expand.split(","):
        result["changelog"] = whole_page("histories", issue.histories)
    return result


def issue_fields(site: JiraSite, issue: Issue) -> JsonDict:
    """Every field of an issue in Jira's v2 JSON."""
    resolved = issue.resolutiondate
    fields: JsonDict = {
        "summary": issue.summary,
        "description": issue.description,
        "environment": issue.environment,
        "labels": list(issue.labels),
        "priority": named_json(site, issue.priority, "priority") if issue.priority else None,
        "components": [named_json(site, c, "component") for c in issue.components],
        "status": status_json(site, issue.status),
        "issuetype": named_json(site, issue.issuetype, "issuetype"),
        "project": project_json(site, issue.project, brief=True),
        "created": jira_time(issue.created),
        "updated": jira_time(issue.updated),
        "resolutiondate": jira_time(resolved) if resolved else None,
        "resolution": (
            {"self": site.api_url("resolution", RESOLUTION_DONE["id"]), **RESOLUTION_DONE}
            if resolved
            else None
        ),
        "assignee": issue.assignee,
        "reporter": issue.reporter,
        "creator": issue.reporter,
        "duedate": issue.duedate,
        "issuelinks": issue.links,
        # Jira lists this embedded page comments-first, unlike GET issue/{key}/comment.
        "comment": {
            "comments": issue.comments,
            "maxResults": len(issue.comments),
            "total": len(issue.comments),
            "startAt": 0,
        },
    }
    for cf in site.catalogue.custom_fields.values():
        fields[cf.id] = issue.custom.get(cf.id)
    return fields


# -- catalogue entries -----------------------------------------------------------------------------


def named_json(site: JiraSite, entry: Named, kind: str) -> JsonDict:
    """An issue type, priority or component object."""
    result: JsonDict = {"self": site.api_url(kind, entry.id), "id": entry.id, "name": entry.name}
    icons = f"{site.base_url}/images/icons"
    if kind == "issuetype":
        result.update(description="", subtask=False, hierarchyLevel=0)
        result["iconUrl"] = f"{icons}/issuetypes/{entry.name.lower()}.svg"
    elif kind == "priority":
        result["iconUrl"] = f"{icons}/priorities/{entry.name.lower()}.svg"
    elif kind == "component":
        project = site.catalogue.find_project(entry.project_key)
        result.update(project=entry.project_key, projectId=int(project.id) if project else 0)
        result["isAssigneeTypeValid"] = False
    return result


def named_list_json(site: JiraSite, entries: list[Named], kind: str) -> list[JsonDict]:
    """A list of issue types, priorities or components."""
    return [named_json(site, entry, kind) for entry in entries]


def option_json(site: JiraSite, option: Named) -> JsonDict:
    """A custom field option, as stored on an issue and listed in the create metadata."""
    return {
        "self": site.api_url("customFieldOption", option.id),
        "value": option.name,
        "id": option.id,
    }


def status_json(site: JiraSite, status: Status) -> JsonDict:
    """A status with its category."""
    number, name, colour = STATUS_CATEGORIES[status.category]
    category = {
        "self": site.api_url("statuscategory", str(number)),
        "id": number,
        "key": status.category,
        "colorName": colour,
        "name": name,
    }
    return {
        "self": site.api_url("status", status.id),
        "description": "",
        "iconUrl": f"{site.base_url}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": category,
    }


def project_json(
    site: JiraSite, project: Project, *, brief: bool = False, issue_types: bool = False
) -> JsonDict:
    """A project; `brief` is the shape embedded in issues."""
    result: JsonDict = {
        "self": site.api_url("project", project.id),
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
    }
    if brief:
        return result
    result.update(simplified=False, style="classic", lead=site.bot_user, assigneeType="UNASSIGNED")
    components = site.catalogue.components_of(project.key)
    result["components"] = named_list_json(site, components, "component")
    if issue_types:
        result["issueTypes"] = named_list_json(site, site.catalogue.issue_types, "issuetype")
    return result


def transition_json(site: JiraSite, transition: Transition) -> JsonDict:
    """A transition as GET /issue/{key}/transitions lists it."""
    target = site.catalogue.find_status(transition.to)
    return {
        "id": transition.id,
        "name": transition.name,
        "to": status_json(site, target) if target else None,
        "hasScreen": False,
        "isGlobal": not transition.sources,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }


# -- fields ----------------------------------------------------------------------------------------


def all_fields_json(site: JiraSite) -> list[JsonDict]:
    """GET /field: system fields, then custom fields."""
    catalogue = site.catalogue
    listed: list[JsonDict] = []
    for field_id, (_, schema) in (SETTABLE_FIELDS | READ_ONLY_FIELDS).items():
        name = catalogue.field_name(field_id)
        entry: JsonDict = {"id": field_id, "key": field_id, "name": name, "custom": False}
        entry.update(orderable=field_id in SETTABLE_FIELDS, navigable=True, searchable=True)
        entry["clauseNames"] = [field_id if field_id != "components" else "component"]
        if schema:
            entry["schema"] = schema
        listed.append(entry)
    for cf in catalogue.custom_fields.values():
        number = _CUSTOM_ID.match(cf.id)
        entry = {"id": cf.id, "key": cf.id, "name": cf.name, "custom": True}
        entry.update(orderable=True, navigable=True, searchable=True, schema=_custom_schema(cf))
        entry["clauseNames"] = [f"cf[{number.group(1) if number else cf.id}]", cf.name]
        listed.append(entry)
    return listed


def create_fields_json(site: JiraSite) -> list[JsonDict]:
    """The create-screen fields of every issue type, with allowed values as Jira lists them."""
    catalogue = site.catalogue
    allowed: dict[str, list[JsonDict]] = {
        "priority": named_list_json(site, catalogue.priorities, "priority"),
        "components": named_list_json(site, catalogue.components, "component"),
        "issuetype": named_list_json(site, catalogue.issue_types, "issuetype"),
        "project": [project_json(site, p, brief=True) for p in catalogue.projects],
    }
    listed: list[JsonDict] = []
    for field_id, (_, schema) in SETTABLE_FIELDS.items():
        required = field_id in ("project", "issuetype", "summary")
        entry = _field_meta(site, field_id, schema, required)
        if field_id in allowed:
            entry["allowedValues"] = allowed[field_id]
        if field_id == "priority":
            entry["hasDefaultValue"] = True
        listed.append(entry)
    for cf in catalogue.custom_fields.values():
        entry = _field_meta(site, cf.id, _custom_schema(cf), cf.required)
        if cf.kind == "option":
            entry["allowedValues"] = [option_json(site, o) for o in cf.option_entries()]
        listed.append(entry)
    return listed


def _field_meta(site: JiraSite, field_id: str, schema: JsonDict, required: bool) -> JsonDict:
    """One create-metadata field entry."""
    return {
        "required": required or field_id in site.catalogue.required,
        "schema": schema,
        "name": site.catalogue.field_name(field_id),
        "fieldId": field_id,
        "key": field_id,
        "hasDefaultValue": False,
        "operations": ["set"] if schema.get("type") != "array" else ["add", "set", "remove"],
    }


def _custom_schema(cf: CustomField) -> JsonDict:
    """The schema Jira reports for a custom field."""
    schema, suffix = CUSTOM_KINDS[cf.kind]
    number = _CUSTOM_ID.match(cf.id)
    extra: JsonDict = {"custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{suffix}"}
    if number:
        extra["customId"] = int(number.group(1))
    return schema | extra
