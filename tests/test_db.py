"""Compiled queries: built once per database, run with new values, same rows as peewee."""
import datetime
from decimal import Decimal

import factories
from backoffice.db import CompiledInsert, CompiledQuery, Slot, _numbered_parameters, db, is_postgres
from backoffice.models import Postback, Transaction

BY_NUMBER = CompiledQuery(lambda: Transaction.select().where(
    (Transaction.merchant == Slot("merchant")) & (Transaction.transaction_number == Slot("number"))
    & (Transaction.amount >= Slot("at_least"))
).order_by(Transaction.id))
RELABEL = CompiledQuery(lambda: Transaction.update(label=Slot("label"), activated_at=Slot("at", Transaction.activated_at))
                        .where(Transaction.id == Slot("id")))
RELABEL_RETURNING = CompiledQuery(lambda: Transaction.update(amount=Transaction.amount + Slot("more", Transaction.amount))
                                  .where(Transaction.id == Slot("id")).returning(Transaction))
NEW_POSTBACK = CompiledInsert(Postback)


def test_select_binds_each_call_and_converts_like_peewee(conn):
    m = factories.merchant()
    w = factories.wallet(m)
    small = factories.transaction(w, amount="100.00", transaction_number="N1")
    big = factories.transaction(w, amount="900.00", transaction_number="N2")

    # A model instance for a foreign key, a Decimal for a money column: converted by the field.
    assert [t.id for t in BY_NUMBER.rows(merchant=m, number="N1", at_least=Decimal("50"))] == [small.id]
    assert BY_NUMBER.rows(merchant=m.id, number="N1", at_least=Decimal("100.01")) == []
    found = BY_NUMBER.first(merchant=m.id, number="N2", at_least=Decimal("0"))
    assert found == Transaction.get_by_id(big.id)
    assert found.amount == Decimal("900.00") and isinstance(found.amount, Decimal)
    assert found.wallet_id == w.id
    assert BY_NUMBER.first(merchant=m.id, number="nope", at_least=Decimal("0")) is None


def test_write_counts_and_returning(conn):
    m = factories.merchant()
    tx = factories.transaction(factories.wallet(m), amount="10.00")
    at = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert RELABEL.count(label="v1", at=at, id=tx.id) == 1
    assert RELABEL.count(label="v1", at=at, id=tx.id + 999) == 0
    fresh = Transaction.get_by_id(tx.id)
    assert (fresh.label, fresh.activated_at) == ("v1", at)

    (grown,) = RELABEL_RETURNING.rows(more=Decimal("0.50"), id=tx.id)
    assert grown.id == tx.id and grown.amount == Decimal("10.50") and grown.label == "v1"
    assert Transaction.get_by_id(tx.id).amount == Decimal("10.50")


def test_insert_fills_defaults_and_returns_the_id(conn):
    m = factories.merchant()
    a = NEW_POSTBACK.create(event_id="evt_a", merchant=m.id, event_type="test", payload="{}")
    b = NEW_POSTBACK.create(event_id="evt_b", merchant=m, event_type="test", payload="{}", attempts=3)
    assert a.id and b.id and a.id != b.id
    stored = Postback.get_by_id(a.id)
    # The model's defaults, as Model.create would have written them.
    assert (stored.status, stored.attempts, stored.delivery) == ("pending", 0, 1)
    assert stored.created_at is not None and stored.merchant_id == m.id
    assert Postback.get_by_id(b.id).attempts == 3
    assert not a.is_dirty()


def test_each_database_gets_its_own_sql(conn):
    BY_NUMBER.rows(merchant=1, number="x", at_least=Decimal(0))
    database, _query, sql, _params, _prepared = BY_NUMBER._compiled[id(db.obj)]
    assert database is db.obj
    # The placeholders are this database's own (``%s`` on PostgreSQL, ``?`` on SQLite).
    assert (db.obj.param or "?") in sql


def test_on_postgresql_each_connection_prepares_a_statement_once(conn):
    if not is_postgres():
        assert BY_NUMBER._for(db.obj)[4] is None  # SQLite runs the SQL text (it caches statements itself)
        return
    m = factories.merchant()
    tx = factories.transaction(factories.wallet(m), amount="10.00", transaction_number="P1")

    def prepared():
        return {name for (name,) in db.execute_sql("SELECT name FROM pg_prepared_statements").fetchall()}

    assert BY_NUMBER.first(merchant=m.id, number="P1", at_least=Decimal(0)).id == tx.id
    assert BY_NUMBER.name in prepared()
    # A rollback does not take it away (a prepared statement lives as long as the session).
    with db.atomic() as transaction:
        assert RELABEL.count(label="x", at=None, id=tx.id) == 1
        transaction.rollback()
    assert RELABEL.name in prepared()
    assert Transaction.get_by_id(tx.id).label != "x"
    assert RELABEL.count(label="y", at=None, id=tx.id) == 1
    assert Transaction.get_by_id(tx.id).label == "y"


def test_placeholders_are_numbered_for_prepare():
    assert _numbered_parameters('SELECT "a" FROM "t" WHERE "b" = %s AND "c" IN (%s, %s)') == (
        'SELECT "a" FROM "t" WHERE "b" = $1 AND "c" IN ($2, $3)')
    assert _numbered_parameters("SELECT 1") == "SELECT 1"
    assert _numbered_parameters("SELECT '100%' WHERE a = %s") is None  # another %: run unprepared
