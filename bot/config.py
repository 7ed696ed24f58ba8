"""Configuration: deployment settings from the environment, the program from a YAML file.

This is the only module that reads the environment. Secrets live in `Settings` (never in the
program file) as `SecretStr`, so a stray `repr()` or log line cannot leak them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.alerts.engine.build import build_rules
from bot.alerts.engine.program import MetricsProgram
from bot.feedback.program import PriorityProgram, SimilarProgram
from bot.oncall.program import EscalationProgram, OnCallProgram, Seconds, escalation_problems
from bot.pulse.program import PulseProgram
from bot.rca.program import RcaProgram
from bot.reports.program import ReportsProgram, Window, report_problems

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SLACK_ID_PATTERN = r"^[A-Z][A-Z0-9]{2,20}$"


class RunMode(StrEnum):
    """How the bot talks to Slack."""

    SOCKET = "socket"
    HTTP = "http"


class Settings(BaseSettings):
    """Deployment settings and secrets, read from the environment (and `.env`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = "sqlite:///./hypercare.db"
    hypercare_config: Path = Path("./hypercare.yaml")
    port: int = Field(default=3000, ge=0, le=65535)  # 0 picks a free port (tests)
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen beyond loopback
    log_level: str = "INFO"
    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_pat: SecretStr | None = None
    jira_webhook_secret: SecretStr | None = None
    jira_connect_timeout: float = Field(default=5.0, gt=0, le=60)
    jira_read_timeout: float = Field(default=20.0, gt=0, le=300)
    outbox_lease_seconds: float = Field(default=120.0, ge=1, le=3600)
    # Side effects carried out at once (Slack calls in flight); 0 picks one per database:
    # 8 on PostgreSQL, 2 on SQLite, whose one writer makes more threads contend, not overlap.
    outbox_concurrency: int = Field(default=0, ge=0, le=32)
    # How often the scheduler looks for escalation steps that fell due (the page lag's bound).
    escalation_tick_seconds: float = Field(default=5.0, gt=0, le=60)
    # How often the scheduler asks whether a digest is due (its slots are whole minutes).
    digest_check_seconds: float = Field(default=30.0, gt=0, le=60)

    @property
    def mode(self) -> RunMode:
        """Socket Mode with an app token, else HTTP mode (with a signing secret)."""
        if self.slack_app_token is not None:
            return RunMode.SOCKET
        return RunMode.HTTP

    def problems(self, program: Program | None = None) -> list[str]:
        """List what is missing for Slack and, when the program opens tickets, for Jira.

        A deploy with a missing secret must not look healthy: each problem names the variables
        to set, and the Slack one points at the demo, which needs no credentials.
        """
        problems = []
        missing = [] if self.slack_bot_token else ["SLACK_BOT_TOKEN"]
        if self.mode is RunMode.HTTP and self.slack_signing_secret is None:
            missing.append("SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode)")
        if missing:
            problems.append(
                f"{' and '.join(missing)} not set: the bot cannot reach Slack. Set "
                f"{'it' if len(missing) == 1 else 'them'} (see README), or run "
                "`hypercare-bot demo` to try the bot without Slack"
            )
        jira_missing = self._jira_missing() if program and program.jira else []
        if jira_missing:
            problems.append(
                f"{' and '.join(jira_missing)} not set, but the program file's `jira:` section "
                "opens tickets. Set them, or remove the section to run without Jira"
            )
        elif self.jira_url and not (self.jira_pat or (self.jira_email and self.jira_api_token)):
            problems.append(
                "JIRA_URL is set but no credentials: set JIRA_EMAIL and JIRA_API_TOKEN "
                "(Jira Cloud)"
                " or JIRA_PAT (Jira Data Center)"
            )
        if self.jira_url and not self.jira_url.startswith(("https://", "http://")):
            problems.append("JIRA_URL must start with https://")
        return problems

    def _jira_missing(self) -> list[str]:
        missing = [] if self.jira_url else ["JIRA_URL"]
        if not (self.jira_pat or (self.jira_email and self.jira_api_token)):
            missing.append("JIRA_EMAIL and JIRA_API_TOKEN (or JIRA_PAT)")
        return missing


class _Strict(BaseModel):
    """A program-file section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    """One option of a list the reporter picks from (a category, component or environment)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    label: str = Field(min_length=1, max_length=75)
    description: str | None = Field(default=None, max_length=75)


class Severity(Choice):
    """A severity level; the order in the file is the order of urgency, most urgent first."""

    emoji: str = ""
    jira_priority: str | None = Field(default=None, max_length=60)
    auto_ticket: bool = False  # open a Jira ticket on submit, not only when a lead asks


class Component(Choice):
    """A part of the system; optionally the Jira component its tickets go to."""

    jira_component: str | None = Field(default=None, max_length=255)


class JiraProgram(_Strict):
    """How feedback becomes Jira tickets (credentials come from the environment)."""

    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,19}$")
    issue_type: str = Field(default="Bug", min_length=1, max_length=60)
    labels: list[str] = Field(default_factory=list)
    fields: dict[str, str | int | float | dict[str, Any] | list[Any]] = Field(default_factory=dict)
    poll_interval: int = Field(default=60, ge=10, le=3600)  # seconds between status polls
    max_requests_per_second: float = Field(default=5.0, gt=0, le=100)
    # A create Jira ran but answered too late can leave two issues for one item: the younger
    # ones are closed through this workflow transition (its name, or its target status's).
    duplicate_transition: str = Field(default="Done", min_length=1, max_length=255)
    # How far back the periodic search for such duplicates looks (issues created since then).
    reconcile_window: Seconds = 24 * 3600

    @field_validator("reconcile_window")
    @classmethod
    def _reconcile_window(cls, seconds: int) -> int:
        if not 3600 <= seconds <= 30 * 86400:
            raise ValueError("give between 1h and 30d (the search covers issues created since)")
        return seconds

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if not label or any(c.isspace() for c in label) or len(label) > 255:
                raise ValueError(
                    f"{label!r} is not a Jira label (one word, at most 255 characters)"
                )
        return labels

    @field_validator("fields")
    @classmethod
    def _custom_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        for name in fields:
            if (
                not name.startswith("customfield_")
                or not name.removeprefix("customfield_").isdigit()
            ):
                raise ValueError(
                    f"{name!r}: only custom fields (customfield_NNNNN) may be set here"
                )
        return fields


class Channels(_Strict):
    """Where the bot posts."""

    feedback: str = Field(pattern=SLACK_ID_PATTERN)
    alerts: str | None = Field(default=None, pattern=SLACK_ID_PATTERN)
    digest: str | None = Field(default=None, pattern=SLACK_ID_PATTERN)
    team: str | None = Field(default=None, pattern=SLACK_ID_PATTERN)  # hand-offs; else feedback


class Roles(_Strict):
    """Slack user ids allowed to act as hypercare leads and bot admins."""

    leads: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)

    @field_validator("leads", "admins")
    @classmethod
    def _user_ids(cls, ids: list[str]) -> list[str]:
        for user_id in ids:
            if user_id[:1] not in ("U", "W") or not user_id.isalnum():
                raise ValueError(f"{user_id!r} is not a Slack user id (like U012AB3CD)")
        return ids


def _unique_ids(section: str, choices: list[Any]) -> None:
    seen: set[str] = set()
    for choice in choices:
        if choice.id in seen:
            raise ValueError(f"{section}: id {choice.id!r} is used twice")
        seen.add(choice.id)


class Program(_Strict):
    """The hypercare program: what the bot asks, where it posts, who leads."""

    name: str = Field(min_length=1, max_length=80)
    id_prefix: str = Field(default="HC", pattern=r"^[A-Z]{1,8}$")
    go_live: dt.date
    planned_end: dt.date | None = None
    timezone: str = "UTC"
    channels: Channels
    severities: list[Severity] = Field(min_length=1, max_length=10)
    categories: list[Choice] = Field(min_length=1, max_length=100)
    components: list[Component] = Field(min_length=1, max_length=100)
    environments: list[Choice] = Field(min_length=1, max_length=100)
    roles: Roles = Field(default_factory=Roles)
    jira: JiraProgram | None = None
    metrics: MetricsProgram | None = None
    oncall: OnCallProgram | None = None
    escalation: EscalationProgram | None = None
    # Digests go to channels.digest on these schedules; exit criteria judge readiness.
    reports: ReportsProgram = Field(default_factory=ReportsProgram)
    # While a report is typed, the open (and lately resolved) reports that read alike.
    similar: SimilarProgram = Field(default_factory=SimilarProgram)
    # The priority score of open items (receipts, digests, `/hypercare top`).
    priority: PriorityProgram = Field(default_factory=PriorityProgram)
    # Root causes of resolved urgent items: who owes one, by when, and the categories.
    rca: RcaProgram = Field(default_factory=RcaProgram)
    # The user pulse: a 1–5 satisfaction question on a schedule (off without the section).
    pulse: PulseProgram | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
            ) from None
        return name

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.planned_end is not None and self.planned_end < self.go_live:
            raise ValueError("planned_end is before go_live")
        _unique_ids("severities", self.severities)
        _unique_ids("categories", self.categories)
        _unique_ids("components", self.components)
        _unique_ids("environments", self.environments)
        if self.jira is None and any(s.auto_ticket for s in self.severities):
            raise ValueError("severities: auto_ticket needs a jira section")
        if self.metrics is not None:
            self._check_metrics(self.metrics)
        unknown = sorted(set(self.priority.severity) - {s.id for s in self.severities})
        if unknown:
            raise ValueError(f"priority.severity: unknown severities {', '.join(unknown)}")
        unknown = sorted(set(self.rca.severities or ()) - {s.id for s in self.severities})
        if unknown:
            raise ValueError(f"rca.severities: unknown severities {', '.join(unknown)}")
        if self.escalation is not None:
            severities = [s.id for s in self.severities]
            problems = escalation_problems(
                self.escalation, self.oncall, severities, self.roles.leads
            )
            if problems:
                raise ValueError("; ".join(problems))
        sources = [source.id for source in self.metrics.sources] if self.metrics else []
        severities = [s.id for s in self.severities]
        problems = report_problems(
            self.reports,
            severities,
            metric_sources=sources,
            window=self.window,
            pulse=self.pulse is not None,
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def window(self) -> Window | None:
        """The planned hypercare window: `reports.window`, else go_live … planned_end."""
        if self.reports.window is not None:
            return self.reports.window
        if self.planned_end is None or self.planned_end <= self.go_live:
            return None
        return Window(start=self.go_live, end=self.planned_end)

    def _check_metrics(self, metrics: MetricsProgram) -> None:
        severities = {s.id for s in self.severities}
        for rule in metrics.rules:
            if rule.severity not in severities:
                raise ValueError(f"metrics.rules.{rule.id}: unknown severity {rule.severity!r}")
            if rule.channel is None and self.channels.alerts is None:
                raise ValueError(f"metrics.rules.{rule.id}: no channel and no channels.alerts")
            if rule.auto_ticket and self.jira is None:
                raise ValueError(f"metrics.rules.{rule.id}: auto_ticket needs a jira section")
        build_rules(metrics, self.channels.alerts)  # the engine's own checks (hysteresis side...)

    @property
    def zone(self) -> ZoneInfo:
        """The program's time zone."""
        return ZoneInfo(self.timezone)

    def severity(self, severity_id: str) -> Severity:
        """Return the severity with this id."""
        return next(s for s in self.severities if s.id == severity_id)

    def owes_root_cause(self, severity: str) -> bool:
        """Tell whether a resolved item of this severity owes a root cause (`rca:`)."""
        return self.rca.applies_to(severity, [s.id for s in self.severities])

    def is_lead(self, user_id: str) -> bool:
        """Tell whether this Slack user is a lead or an admin."""
        return user_id in self.roles.leads or user_id in self.roles.admins


def environment() -> Mapping[str, str]:
    """The process environment, for values the program file names by variable (never inlines)."""
    return os.environ


class ProgramFileError(Exception):
    """The program file is missing, not YAML, or not a valid program; `problems` says where."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_program(path: Path) -> Program:
    """Read and validate the program file, reporting every problem with its path in the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProgramFileError(path, ["file not found (set HYPERCARE_CONFIG)"]) from None
    except UnicodeDecodeError as exc:
        raise ProgramFileError(path, [f"not UTF-8 text (byte {exc.start})"]) from None
    except yaml.YAMLError as exc:
        raise ProgramFileError(path, [f"not valid YAML: {exc}"]) from None
    except RecursionError:
        raise ProgramFileError(path, ["not valid YAML: nested too deeply"]) from None
    if not isinstance(raw, dict):
        raise ProgramFileError(path, ["the file must be a YAML mapping"])
    try:
        return Program.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{_location(err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
        raise ProgramFileError(path, problems) from None
