"""The program file's `rca:` section: which resolved items owe a root cause, by when, and the
categories a root cause may have."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.oncall.program import Seconds


class _Strict(BaseModel):
    """A program-file section: unknown keys are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RootCauseCategory(_Strict):
    """One root-cause category: an id (stored) and a label (shown)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    label: str = Field(min_length=1, max_length=75)


DEFAULT_CATEGORIES = (
    RootCauseCategory(id="code_defect", label="Code defect"),
    RootCauseCategory(id="configuration", label="Configuration"),
    RootCauseCategory(id="infrastructure", label="Infrastructure"),
    RootCauseCategory(id="third_party", label="Third party"),
    RootCauseCategory(id="data", label="Data"),
    RootCauseCategory(id="capacity", label="Capacity"),
    RootCauseCategory(id="process", label="Process"),
    RootCauseCategory(id="other", label="Other"),
)


class RcaProgram(_Strict):
    """Root causes: resolved items of `severities` get a *Record root cause* button; leads are
    reminded in the digest of those without one `due_within` after their resolution."""

    # None: the two most urgent severities of the program.
    severities: list[str] | None = Field(default=None, min_length=1)
    due_within: Seconds = 2 * 86400
    categories: list[RootCauseCategory] = Field(
        default_factory=lambda: list(DEFAULT_CATEGORIES), min_length=1, max_length=100
    )

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            raise ValueError("rca.categories: ids must be unique")
        return self

    def applies_to(self, severity: str, ranked: list[str]) -> bool:
        """Whether a resolved item of this severity owes a root cause."""
        return severity in (self.severities if self.severities is not None else ranked[:2])

    def category_label(self, category: str) -> str:
        """The label of a category id (the id itself when the list no longer has it)."""
        return next((c.label for c in self.categories if c.id == category), category)
