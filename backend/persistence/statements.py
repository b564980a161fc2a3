"""Dialect-aware statements the engines spell differently."""

from __future__ import annotations

from sqlalchemy import Table


def insert_ignoring_conflicts(dialect: str, table: Table):
    """`INSERT … ON CONFLICT DO NOTHING`: a row a concurrent transaction created first is not an error
    (PostgreSQL waits for that transaction, then skips the row)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def insert_one_if_absent(uow, table: Table, values: dict) -> bool:
    """Insert one row unless its key exists; True when this call created it."""
    stmt = insert_ignoring_conflicts(uow.dialect, table).values(values).returning(*table.primary_key.columns)
    return uow.execute(stmt).first() is not None


def among(column, values: list):
    """`column IN (...)`, as a plain equality for one value: single-person requests are the hot path,
    and an expanding IN costs SQLAlchemy several times an equality's work per execution."""
    return column == values[0] if len(values) == 1 else column.in_(values)
