"""An empty database of its own for a migration test (SQLite and PostgreSQL), and rows
written to an old schema with plain SQL (the models describe today's schema, not that one)."""
import datetime
import os
import uuid
from urllib.parse import urlunparse

import pytest
from peewee import PostgresqlDatabase

from backoffice.db import make_database
from conftest import TEST_DATABASE_URL, _postgres_admin_connection

T0 = datetime.datetime(2026, 11, 1, 8, 0)


@pytest.fixture(params=["sqlite", "postgres"])
def old_database(request, tmp_path):
    if request.param == "sqlite":
        database = make_database("sqlite:///" + str(tmp_path / "old.sqlite3"))
        yield database
        database.close()
        return
    try:
        admin, parsed = _postgres_admin_connection()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("REQUIRE_POSTGRES", "") not in ("", "0"):
            pytest.fail(f"PostgreSQL does not answer at {TEST_DATABASE_URL}: {exc}")
        pytest.skip(f"PostgreSQL does not answer at {TEST_DATABASE_URL}: {exc}")
    name = f"backoffice_old_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    database = make_database(urlunparse(parsed._replace(path="/" + name)))
    yield database
    database.close_all() if hasattr(database, "close_all") else database.close()
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


def insert(database, table, **values):
    """A row of the old schema: every NOT NULL column not given gets a value of its type;
    its id."""
    for column in database.get_columns(table):
        if column.name in values or column.null or column.primary_key:
            continue
        kind = column.data_type.lower()
        if "char" in kind or "text" in kind:
            values[column.name] = ""
        elif "bool" in kind:
            values[column.name] = False
        elif "timestamp" in kind or "datetime" in kind:
            values[column.name] = T0
        elif kind == "date":
            values[column.name] = T0.date()
        else:
            values[column.name] = 0
    names = ", ".join(f'"{name}"' for name in values)
    params = ", ".join([database.param] * len(values))
    returning = ' RETURNING "id"' if isinstance(database, PostgresqlDatabase) else ""
    cursor = database.execute_sql(f'INSERT INTO "{table}" ({names}) VALUES ({params}){returning}', list(values.values()))
    if returning:
        return cursor.fetchone()[0]
    return cursor.lastrowid
