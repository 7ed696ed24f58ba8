"""Alembic environment: runs on the connection `storage.db.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from storage.models import Base, modelled

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    # Batch mode lets ALTERs work on SQLite; it is a no-op on PostgreSQL.
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=True,
        include_object=modelled,  # the text-search objects of migration 0012
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # `alembic` on the command line, for writing new migrations
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///./hypercare.db"
    with create_engine(url).connect() as conn:
        _run(conn)
