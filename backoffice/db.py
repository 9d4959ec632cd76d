"""The database: one peewee proxy, opened per request, migrated by one tool.

Schema changes are versioned scripts in ``backoffice/migrations`` run by peewee's own
``playhouse.migrations`` runner (STACK.md: it writes clean ``DecimalField``
migrations). ``apply_migrations`` is what ``backoffice init-db`` calls; it records
each script it applied, so running it twice changes nothing.
"""
import functools
import itertools
import os
import weakref
from urllib.parse import urlparse

from flask import g
from peewee import DatabaseProxy, Node, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect as connect_url
from playhouse.migrations import Runner

db = DatabaseProxy()

MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",  # readers do not block the writer
    "foreign_keys": 1,
    "busy_timeout": 10000,  # wait for a writer instead of failing at once
    "synchronous": "normal",
}


def make_database(url):
    """Build a peewee Database for ``sqlite:///path`` or ``postgresql://…``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else parsed.path
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return SqliteDatabase(path or ":memory:", pragmas=SQLITE_PRAGMAS)
    if parsed.scheme in ("postgres", "postgresql"):
        # A pool: opening a PostgreSQL connection per request costs more than the
        # request itself. Connections are handed back at the end of each request.
        url = "postgresql+pool://" + url.split("://", 1)[1]
        return connect_url(
            url,
            max_connections=int(os.environ.get("BACKOFFICE_DB_POOL_SIZE", "20")),
            stale_timeout=300,
            timeout=10,  # wait this long for a free connection, then fail
        )
    return connect_url(url)


def init_db(url):
    """Point the global proxy at the database named by ``url`` (kept if it already is)."""
    if db.obj is not None and getattr(db.obj, "backoffice_url", None) == url:
        return db.obj
    database = make_database(url)
    database.backoffice_url = url
    db.initialize(database)
    return database


def is_postgres():
    return isinstance(db.obj, PostgresqlDatabase)


def is_sqlite():
    return isinstance(db.obj, SqliteDatabase)


def write_transaction():
    """A transaction for a read-then-write rule (activation, balances, decisions).

    On SQLite it takes the write lock at BEGIN (``BEGIN IMMEDIATE``): two deferred
    transactions that both read and then both try to write would otherwise fail
    with "database is locked" instead of waiting their turn. PostgreSQL uses row
    locks and conditional updates inside an ordinary transaction.
    """
    if is_sqlite() and db.transaction_depth() == 0:
        return db.atomic(lock_type="IMMEDIATE")
    return db.atomic()


# For connections whose every write may be lost on a server crash without harm (the
# RQ worker's): commit without waiting for the WAL flush. Nothing is ever half
# written; PostgreSQL may only forget the last few hundred milliseconds of commits.
ASYNC_COMMIT_SQL = "SET synchronous_commit = off"


def delete_older(model, column, cutoff, batch=5000):
    """Delete ``model``'s rows whose ``column`` is before ``cutoff``, ``batch`` rows per
    statement (a retention sweep never holds one long lock); how many."""
    total = 0
    while True:
        ids = [row[0] for row in model.select(model._meta.primary_key).where(column < cutoff).limit(batch).tuples()]
        if not ids:
            return total
        total += model.delete().where(model._meta.primary_key.in_(ids)).execute()


def apply_migrations():
    """Apply every pending migration; return the names applied (empty when none)."""
    with db.connection_context():
        return Runner(db.obj, MIGRATIONS_DIR).up()


def pending_migrations():
    with db.connection_context():
        return [m.name for m in Runner(db.obj, MIGRATIONS_DIR).status() if not m.applied]


def init_app(app):
    """Open a connection per request and always give it back."""
    init_db(app.config["DATABASE_URL"])

    @app.before_request
    def _open_connection():
        # False when a caller (a CLI command, a test) holds a connection already:
        # then it is theirs to close, not this request's.
        g.db_opened_here = db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_connection(exc):
        if g.pop("db_opened_here", False) and not db.is_closed():
            db.close()


def with_db(func):
    """Run a job (or any code outside a request) with its own database connection,
    closed afterwards.

    When a connection is open already (the simple worker keeps one across jobs, a
    test holds one), the function uses it and leaves it open.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if not db.is_closed():
            return func(*args, **kwargs)
        with db.connection_context():
            return func(*args, **kwargs)

    return wrapper


# --- compiled queries for the hot paths ------------------------------------------------
#
# peewee builds the SQL of a query anew on every execution, and for the statements
# that run on every activation or postback delivery that costs about twice as much as
# running them (0.27 ms to build, 0.13 ms to run the activation's claim on PostgreSQL).
# ``CompiledQuery`` builds a query once per database with named ``Slot`` parameters,
# keeps the SQL text, and binds new values on each call; the rows come back through
# the query's own cursor wrapper, so they are the same model instances peewee returns.

class _SlotValue:
    __slots__ = ("name", "convert")

    def __init__(self, name, convert):
        self.name, self.convert = name, convert

    def bind(self, values):
        value = values[self.name]
        return self.convert(value) if self.convert is not None and value is not None else value


class Slot(Node):
    """A named parameter of a :class:`CompiledQuery`.

    Compared with a field (``Transaction.merchant == Slot("merchant")``) the value is
    converted by that field like any peewee value; elsewhere (``update(label=Slot(…))``)
    pass ``field=`` to convert it, or a value the driver takes as it is.
    """

    def __init__(self, name, field=None):
        super().__init__()
        self.name = name
        self.field = field

    def __sql__(self, ctx):
        convert = self.field.db_value if self.field is not None else ctx.state.converter
        ctx._values.append(_SlotValue(self.name, convert))
        return ctx.literal(ctx.state.param or "?")


_PREPARED = weakref.WeakKeyDictionary()  # a PostgreSQL connection -> the statements prepared on it
_names = itertools.count(1)


def _numbered_parameters(sql):
    """``%s`` placeholders as ``$1, $2, …`` (PREPARE's); None when the SQL has another ``%``."""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        return None
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, 1))


class CompiledQuery:
    """A peewee query whose SQL is built once (per database) and run with new values.

    ``build`` returns the query, with :class:`Slot` where the values go::

        CLAIM = CompiledQuery(lambda: Transaction.update(label=Slot("label"))
                              .where(Transaction.id == Slot("id")).returning(Transaction))
        rows = CLAIM.rows(label="v1", id=7)

    On PostgreSQL the statement is also prepared on each connection the first time
    it runs there (``PREPARE`` / ``EXECUTE``): the server parses and plans it once
    per connection instead of on every call.
    """

    def __init__(self, build):
        self.build = build
        self.name = f"backoffice_q{next(_names)}"
        self._compiled = {}

    def _for(self, database):
        entry = self._compiled.get(id(database))
        if entry is None or entry[0] is not database:
            query = self.build()
            sql, params = database.get_sql_context().sql(query).query()
            prepared = None
            if isinstance(database, PostgresqlDatabase):
                numbered = _numbered_parameters(sql)
                if numbered is not None:
                    arguments = f" ({', '.join(['%s'] * len(params))})" if params else ""
                    prepared = (f"PREPARE {self.name} AS {numbered}", f"EXECUTE {self.name}{arguments}")
            entry = self._compiled[id(database)] = (database, query, sql, params, prepared)
        return entry

    def _cursor(self, values):
        database, query, sql, params, prepared = self._for(db.obj)
        bound = [p.bind(values) if isinstance(p, _SlotValue) else p for p in params]
        if prepared is None:
            return database, query, database.execute_sql(sql, bound)
        connection = database.connection()
        names = _PREPARED.get(connection)
        if names is None:
            names = _PREPARED[connection] = set()
        if self.name not in names:
            # Not undone by a rollback: a prepared statement lives as long as the session.
            database.cursor().execute(prepared[0])
            names.add(self.name)
        return database, query, database.execute_sql(prepared[1], bound)

    def rows(self, **values):
        """The rows of a SELECT or of a write with RETURNING, as peewee would give them."""
        _database, query, cursor = self._cursor(values)
        return list(query._get_cursor_wrapper(cursor))

    def first(self, **values):
        found = self.rows(**values)
        return found[0] if found else None

    def count(self, **values):
        """Run a write without RETURNING; the number of rows it changed."""
        database, _query, cursor = self._cursor(values)
        return database.rows_affected(cursor)


class CompiledInsert(CompiledQuery):
    """``Model.create`` with the INSERT built once: ``CompiledInsert(Postback).create(**fields)``.

    The instance gets the model's defaults like ``Model.create`` gives it, and its id
    from ``RETURNING``."""

    def __init__(self, model):
        self.model = model
        self.fields = [f for f in model._meta.sorted_fields if f is not model._meta.primary_key]
        primary_key = model._meta.primary_key
        super().__init__(lambda: model.insert({f: Slot(f.name, f) for f in self.fields})
                         .returning(primary_key).tuples())

    def create(self, **values):
        instance = self.model(**values)
        data = instance.__data__  # raw values: a foreign key stays an id, nothing is fetched
        row = self.first(**{f.name: data.get(f.name) for f in self.fields})
        setattr(instance, self.model._meta.primary_key.name, row[0])
        instance._dirty.clear()
        return instance
