"""Dialect-aware statements the engines spell differently."""

from __future__ import annotations

from sqlalchemy import Table, bindparam, insert


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


def insert_many(uow, table: Table, rows: list[dict], ignore_conflicts: bool = False) -> None:
    """INSERT rows (dicts with the same keys) through the driver's own `executemany` (`execute_many`).
    Python-side column defaults do not apply here: rows name every column they need (`created_at`).
    `ignore_conflicts`: `INSERT … ON CONFLICT DO NOTHING`."""
    if rows:
        keys = tuple(rows[0])
        key = (table.name, keys, ignore_conflicts, uow.dialect)
        stmt = _INSERTS.get(key)
        if stmt is None:  # two threads may both build it; both then use the one kept
            built = insert_ignoring_conflicts(uow.dialect, table) if ignore_conflicts else insert(table)
            stmt = _INSERTS.setdefault(key, built.values({k: bindparam(k) for k in keys}))
        execute_many(uow, stmt, rows)


_INSERTS: dict = {}


def execute_many(uow, stmt, rows: list[dict]) -> None:
    """Run a prebuilt statement whose parameters are all `bindparam`s once per row, through the
    driver's own `executemany`.

    SQLAlchemy's per-row parameter handling costs about as much as SQLite's insert itself (10,000
    ledger rows: 53 ms through `execute`, 27 ms through the driver, measured), and bulk jobs write
    tens of thousands of rows. The statement is compiled once per engine kind, and values still pass
    through each parameter type's bind processor, so what is stored is what SQLAlchemy would store;
    a value shared by many rows (a chunk's timestamp) is processed once."""
    if not rows:
        return
    sql, names, converted = _compiled(stmt, uow.conn.dialect)
    done: dict = {}  # (processor, id(value)) -> driver value; the rows keep every value alive meanwhile

    def driver(process, value):
        key = (process, id(value))
        if key not in done:
            done[key] = process(value)  # None too: JSON stores it as 'null', as SQLAlchemy does
        return done[key]

    if names is None:  # named parameters (psycopg)
        params = [{**row, **{n: driver(p, row[n]) for n, p in converted}} for row in rows]
    else:  # positional (sqlite3): the row's values in the statement's order, converted where needed
        params = []
        for row in rows:
            values = [row[n] for n in names]
            for i, p in converted:
                values[i] = driver(p, values[i])
            params.append(tuple(values))
    uow.execute_driver_sql(sql, params if len(params) > 1 else params[0])


_COMPILED: dict = {}  # keyed by the statement itself (compared by identity), which keeps it alive


def _compiled(stmt, dialect):
    """(SQL, positional parameter order or None, the parameters to convert with their bind processor:
    by position when positional — a name may recur — else by name), once per statement and engine kind."""
    key = (stmt, dialect.name)
    if key not in _COMPILED:
        compiled = stmt.compile(dialect=dialect, for_executemany=True)
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        if compiled.positional:
            names = list(compiled.positiontup)
            converted = [(i, processors[n]) for i, n in enumerate(names) if processors[n] is not None]
        else:
            names, converted = None, [(n, p) for n, p in processors.items() if p is not None]
        _COMPILED[key] = (compiled.string, names, converted)
    return _COMPILED[key]
