"""Dialect-aware statements the engines spell differently."""

from __future__ import annotations

from collections import namedtuple
from functools import partial

from sqlalchemy import Table, bindparam, insert, literal
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel.sql.sqltypes import UTCDateTime


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
    statement = _compiled(stmt, uow.conn.dialect)
    done: dict = {}  # (processor, id(value)) -> driver value; the rows keep every value alive meanwhile

    def driver(process, value):
        key = (process, id(value))
        if key not in done:
            done[key] = process(value)  # None too: JSON stores it as 'null', as SQLAlchemy does
        return done[key]

    params = [statement.params(row, driver) for row in rows]
    uow.flush()
    many = len(params) > 1
    _on_driver(uow.conn, statement.sql, params if many else params[0], many=many, driver=uow.driver).close()


def fetch(conn, stmt, params: dict, driver=None) -> list:
    """The rows of a prebuilt statement (`bindparam`s, no expanding lists) as named tuples, run on the
    driver's cursor of `conn` (a SQLAlchemy connection, in whatever transaction it is in).

    For the statements every request runs (the token, the person, the held unlocks, the debit, the
    balances): SQLAlchemy spends ~13 µs around each execution, the driver ~1 µs on SQLite (measured).
    Values pass through the same bind and result processors SQLAlchemy would apply, and driver
    errors come out as SQLAlchemy's, so callers (and the retry in `run`) see no difference. `driver`:
    the DBAPI connection under `conn`, when the caller keeps it at hand (a unit of work does)."""
    statement = _compiled(stmt, conn.dialect)
    cursor = _on_driver(conn, statement.sql, statement.params(params, _convert), driver=driver)
    return statement.rows(cursor, conn.dialect)


def _convert(process, value):
    return process(value)


def _on_driver(conn, sql: str, params, many: bool = False, driver=None):
    """Execute on the connection's DBAPI cursor; a driver error is raised as SQLAlchemy's. On
    PostgreSQL the statement is prepared (persistence/db.py; psycopg's executemany always prepares):
    these are the statements every request runs, planned once instead of at every execution."""
    dialect = conn.dialect
    cursor = (driver or conn.connection.dbapi_connection).cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        elif dialect.name == "postgresql":
            cursor.execute(sql, params, prepare=True)
        else:
            cursor.execute(sql, params)
    except dialect.loaded_dbapi.Error as exc:
        raise _as_sqlalchemy_error(conn, exc, sql, params, cursor) from exc
    return cursor


def driver_call(conn, call, *args):
    """`call(*args)` on the DBAPI connection under `conn` (a unit of work's BEGIN, commit, rollback,
    autocommit switch), a driver error raised as SQLAlchemy's, as `fetch` raises it."""
    try:
        return call(*args)
    except conn.dialect.loaded_dbapi.Error as exc:
        said = args[0] if args and isinstance(args[0], str) else call.__name__  # the SQL, or what was asked
        raise _as_sqlalchemy_error(conn, exc, said, None) from exc


def _as_sqlalchemy_error(conn, exc, sql: str, params, cursor=None) -> DBAPIError:
    dialect = conn.dialect
    lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if cursor is not None:
        cursor.close()
    if lost:  # as SQLAlchemy does: the pool must not hand this connection out again
        conn.invalidate(exc)
    return DBAPIError.instance(
        sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )


class _Compiled:
    """A statement compiled once per engine kind: its SQL, how a parameter dict becomes the driver's
    parameters (positional order, bind processors: by position when positional — a name may recur —
    else by name), and, once first run, how a driver row becomes a named tuple."""

    def __init__(self, stmt, dialect):
        compiled = stmt.compile(dialect=dialect, for_executemany=True)
        # what SQLAlchemy works out anew at each execution, this path cannot: an IN list's expansion,
        # a parameter's callable, a column's Python-side default
        if any(b.expanding or b.callable is not None for b in compiled.binds.values()):
            raise ValueError("run statements with an IN list or a callable parameter through execute")
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            raise ValueError("name every column with a Python-side default, or run it through execute")
        self.sql = compiled.string
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        # values built into the statement (`column == "email"`): the same at every execution
        self.fixed = {n: b.effective_value for n, b in compiled.binds.items() if not b.required}
        if compiled.positional:
            self.names = list(compiled.positiontup)
            self.converted = [(i, processors[n]) for i, n in enumerate(self.names) if processors[n]]
        else:
            self.names, self.converted = None, [(n, p) for n, p in processors.items() if p is not None]
        self.columns = [(c.keyname, c.type) for c in compiled._result_columns]
        self.row_type = namedtuple("Row", [k for k, _ in self.columns], rename=True) if self.columns else None
        # a row as the named tuple, without `_make`'s length check: the statement fixed the columns
        self.make = partial(tuple.__new__, self.row_type) if self.columns else None
        self.results = None  # [(index, result processor)], from the first cursor's description

    def params(self, row: dict, convert):
        if self.fixed:
            row = {**self.fixed, **row}
        if self.names is None:  # named parameters (psycopg)
            return {**row, **{n: convert(p, row[n]) for n, p in self.converted}} if self.converted else row
        values = list(map(row.__getitem__, self.names))
        for i, p in self.converted:
            values[i] = convert(p, values[i])
        return values

    def rows(self, cursor, dialect) -> list:
        if self.row_type is None:
            cursor.close()
            return []
        if self.results is None:
            codes = [d[1] for d in cursor.description]
            types = [t for _, t in self.columns]
            processors = [t._cached_result_processor(dialect, c) for t, c in zip(types, codes, strict=True)]
            self.results = [(i, p) for i, p in enumerate(processors) if p is not None]
        make, results, fetched = self.make, self.results, cursor.fetchall()
        cursor.close()
        if not results:
            return list(map(make, fetched))
        out = []
        for r in fetched:
            r = list(r)
            for i, p in results:
                r[i] = p(r[i])
            out.append(make(r))
        return out


_COMPILED: dict = {}  # keyed by the statement itself (compared by identity), which keeps it alive


def _compiled(stmt, dialect) -> _Compiled:
    key = (stmt, dialect.name, dialect.driver)
    found = _COMPILED.get(key)
    if found is None:  # two threads may both compile it; both then use the one kept
        found = _COMPILED.setdefault(key, _Compiled(stmt, dialect))
    return found


class db_now(FunctionElement):
    """The database's clock, `seconds` (a number or a SQL expression) from now, as a UTC timestamp
    comparable with our datetime columns. Expiries are judged by the one clock every server shares
    (api.md "API keys": a revoked or expired key stops on every server at once)."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds=None):
        args = () if seconds is None else (seconds if hasattr(seconds, "compile") else literal(seconds),)
        super().__init__(*args)


@compiles(db_now, "postgresql")
def _db_now_postgresql(element, compiler, **kw):
    args = list(element.clauses)
    if not args:
        return "statement_timestamp()"
    return f"(statement_timestamp() + make_interval(secs => {compiler.process(args[0], **kw)}))"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element, compiler, **kw):
    # written as SQLAlchemy writes a datetime on SQLite (microseconds, six digits), so strings compare
    args = list(element.clauses)
    shift = f", ({compiler.process(args[0], **kw)}) || ' seconds'" if args else ""
    return f"strftime('%Y-%m-%d %H:%M:%f000', 'now'{shift})"
