"""The database: one peewee proxy, opened per request, migrated by one tool.

Schema changes are versioned scripts in ``backoffice/migrations`` run by peewee's own
``playhouse.migrations`` runner (STACK.md: it writes clean ``DecimalField``
migrations). ``apply_migrations`` is what ``backoffice init-db`` calls; it records
each script it applied, so running it twice changes nothing.
"""
import os
from urllib.parse import urlparse

from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
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

    from flask import g

    @app.before_request
    def _open_connection():
        # False when a caller (a CLI command, a test) holds a connection already:
        # then it is theirs to close, not this request's.
        g.db_opened_here = db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close_connection(exc):
        if g.pop("db_opened_here", False) and not db.is_closed():
            db.close()
