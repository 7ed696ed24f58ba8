"""On-call overrides added from Slack (the program file holds the planned ones)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import AuditRow, OnCallOverrideRow


@dataclass(frozen=True)
class StoredOverride:
    """Someone covers a rota from one instant to another, as an admin said in Slack."""

    rota: str
    who: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_by: str


class OverrideRepository:
    """Stores overrides, each with its audit row."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add(self, override: StoredOverride, now: dt.datetime) -> None:
        """Store an override and audit who added it."""
        with self._sessions.begin() as session:
            session.add(
                OnCallOverrideRow(
                    rota=override.rota,
                    who=override.who,
                    starts_at=override.starts_at,
                    ends_at=override.ends_at,
                    created_by=override.created_by,
                    created_at=now,
                )
            )
            detail = {
                "rota": override.rota,
                "who": override.who,
                "from": override.starts_at.isoformat(),
                "to": override.ends_at.isoformat(),
            }
            session.add(
                AuditRow(
                    feedback_id=None,
                    actor_id=override.created_by,
                    action="oncall_override",
                    detail=detail,
                    at=now,
                )
            )

    def ending_after(self, moment: dt.datetime) -> list[StoredOverride]:
        """Overrides still in force (or starting later) after a moment, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(OnCallOverrideRow)
                .where(OnCallOverrideRow.ends_at > moment)
                .order_by(OnCallOverrideRow.created_at, OnCallOverrideRow.id)
            )
            return [
                StoredOverride(r.rota, r.who, r.starts_at, r.ends_at, r.created_by) for r in rows
            ]
