"""The emulated site's catalogue: projects, issue types, priorities, components, the workflow and
the fields a create screen offers. Issues refer to these entries; they never change them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.jira.wire import JsonDict

# statusCategory key -> (id, name, colour), as Jira Cloud and Data Center ship them.
STATUS_CATEGORIES: dict[str, tuple[int, str, str]] = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
# The system fields a create request may set (they are on the default create screen).
SETTABLE_FIELDS: dict[str, tuple[str, JsonDict]] = {
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
READ_ONLY_FIELDS: dict[str, tuple[str, JsonDict]] = {
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
CUSTOM_KINDS: dict[str, tuple[JsonDict, str]] = {
    "string": ({"type": "string"}, "textfield"),
    "textarea": ({"type": "string"}, "textarea"),
    "number": ({"type": "number"}, "float"),
    "option": ({"type": "option"}, "select"),
    "labels": ({"type": "array", "items": "string"}, "labels"),
}
# The one resolution the emulator knows, set on entering a done status and cleared on leaving it.
RESOLUTION_DONE: JsonDict = {
    "id": "10000",
    "name": "Done",
    "description": "Work has been completed.",
}


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


@dataclass(frozen=True)
class LinkType:
    """An issue link type: its name and how each end reads ("duplicates" / "is duplicated by")."""

    id: str
    name: str
    inward: str
    outward: str


@dataclass
class CustomField:
    """A declared custom field; `kind` is one of string, textarea, number, option, labels."""

    id: str
    name: str
    kind: str
    required: bool
    options: list[str]

    def option_entries(self) -> list[Named]:
        """The options of an `option` field; Jira numbers their ids from 10000 in order."""
        return [Named(str(10000 + n), text) for n, text in enumerate(self.options)]


def known_as(entry: Named | Status, ref: str) -> bool:
    """Whether `ref` names the entry: its name in any case, or its exact id (JQL's rule)."""
    return ref.lower() == entry.name.lower() or ref == entry.id


def by_id_or_name(entries: list[Named], ref: JsonDict) -> Named | None:
    """Resolve `{"id": ..}` (exact) or `{"name": ..}` (any case) against catalogue entries."""
    if ref.get("id"):
        return next((e for e in entries if e.id == str(ref["id"])), None)
    name = str(ref.get("name", "")).lower()
    return next((e for e in entries if e.name.lower() == name), None)


class Catalogue:
    """Everything an issue can refer to, seeded the way a fresh Jira project starts."""

    def __init__(self, *, cloud: bool, project_key: str) -> None:
        """One project, Bug/Task, five priorities, two components and a 3-step workflow."""
        self.cloud = cloud
        self.projects: list[Project] = []
        self.issue_types: list[Named] = []
        self.priorities: list[Named] = []
        self.components: list[Named] = []
        self.statuses: list[Status] = []
        self.workflow: list[Transition] = []
        # The link types a new Jira site ships with.
        self.link_types = [
            LinkType("10000", "Blocks", "is blocked by", "blocks"),
            LinkType("10001", "Cloners", "is cloned by", "clones"),
            LinkType("10002", "Duplicate", "is duplicated by", "duplicates"),
            LinkType("10003", "Relates", "relates to", "relates to"),
        ]
        self.custom_fields: dict[str, CustomField] = {}
        self.required: set[str] = set()
        self.default_priority = "Medium"  # Jira fills the scheme's default when none is sent
        self._next_component_id = 10000
        self.add_project(project_key, "Hypercare", "10000")
        for name in ("Bug", "Task"):
            self.add_issue_type(name)
        for name in ("Highest", "High", "Medium", "Low", "Lowest"):
            self.add_priority(name)
        for name in ("Payments API", "Checkout UI"):
            self.add_component(name, None, project_key)
        self.add_status("To Do", "10000", "new")
        self.add_status("In Progress", "3", "indeterminate")
        self.add_status("Done", "10001", "done")
        self.add_transition("11", "Start progress", "In Progress", ("To Do",))
        self.add_transition("21", "Done", "Done", ("To Do", "In Progress"))
        self.add_transition("31", "Reopen", "To Do", ("Done",))

    # -- adding entries ----------------------------------------------------------------------------

    def add_project(self, key: str, name: str, id: str | None = None) -> Project:
        """Register a project; ids count up from 10000."""
        project = Project(id or str(10000 + len(self.projects)), key.upper(), name)
        self.projects.append(project)
        return project

    def add_issue_type(self, name: str, id: str | None = None) -> Named:
        """Register an issue type, offered in every project; ids count up from 10001."""
        issue_type = Named(id or str(10001 + len(self.issue_types)), name)
        self.issue_types.append(issue_type)
        return issue_type

    def add_priority(self, name: str, id: str | None = None) -> Named:
        """Register a priority after the existing ones (lowest rank); ids count up from 1."""
        priority = Named(id or str(len(self.priorities) + 1), name)
        self.priorities.append(priority)
        return priority

    def add_component(self, name: str, id: str | None, project_key: str) -> Named:
        """Register a component of one project."""
        project = self.find_project(project_key)
        if project is None:
            raise KeyError(f"no project {project_key}")
        if id is None:
            id = str(self._next_component_id)
            self._next_component_id += 1
        component = Named(id, name, project.key)
        self.components.append(component)
        return component

    def add_status(self, name: str, id: str, category: str) -> Status:
        """Register a workflow status; `category` is new, indeterminate or done."""
        if category not in STATUS_CATEGORIES:
            raise ValueError(f"unknown status category {category!r}")
        status = Status(id, name, category)
        self.statuses.append(status)
        return status

    def add_transition(self, id: str, name: str, to: str, sources: tuple[str, ...]) -> None:
        """Register a workflow transition into status `to` from `sources` (empty: global)."""
        self.workflow.append(Transition(id, name, to, sources))

    def add_custom_field(
        self, field_id: str, name: str, kind: str, required: bool, options: list[str]
    ) -> None:
        """Put a custom field on the create screen."""
        if kind not in CUSTOM_KINDS:
            raise ValueError(f"unknown custom field kind {kind!r}")
        self.custom_fields[field_id] = CustomField(field_id, name, kind, required, options)

    # -- looking entries up ------------------------------------------------------------------------

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
        return next((s for s in self.statuses if known_as(s, ref)), None)

    def find_link_type(self, ref: JsonDict) -> LinkType | None:
        """A link type by `{"name": ...}` (any case) or `{"id": ...}`."""
        name, id = str(ref.get("name") or "").lower(), str(ref.get("id") or "")
        return next(
            (t for t in self.link_types if (name and t.name.lower() == name) or t.id == id), None
        )

    def components_of(self, project_key: str) -> list[Named]:
        """The components of one project, in registration order."""
        return [c for c in self.components if c.project_key == project_key]

    def initial_status(self) -> Status:
        """The status new issues start in: the first of category 'new'."""
        return next((s for s in self.statuses if s.category == "new"), self.statuses[0])

    def transitions_from(self, status: Status) -> list[Transition]:
        """The transitions offered from `status`."""
        return [t for t in self.workflow if not t.sources or status.name in t.sources]

    def field_name(self, field_id: str) -> str:
        """The display name of a system or custom field."""
        if field_id in self.custom_fields:
            return self.custom_fields[field_id].name
        if field_id == "components" and self.cloud:
            return "Components"  # Cloud renamed "Component/s"
        system = SETTABLE_FIELDS.get(field_id) or READ_ONLY_FIELDS.get(field_id)
        return system[0] if system else field_id
