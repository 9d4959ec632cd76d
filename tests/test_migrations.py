"""The migration scripts and the models agree, and init-db can run again safely."""
from playhouse.schema_diff import diff_models

import factories
from backoffice.db import apply_migrations, db, pending_migrations
from backoffice.models import ALL_MODELS, Merchant


def test_migrations_match_the_models(ctx):
    diff = diff_models(db.obj, ALL_MODELS)
    assert not diff, f"models and migrations differ: {diff}"
    assert pending_migrations() == []


def test_init_db_twice_keeps_data(runner, conn):
    factories.merchant(name="Keep me")
    first = runner.invoke(args=["init-db"])
    second = runner.invoke(args=["init-db"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "up to date" in second.output
    assert Merchant.select().where(Merchant.name == "Keep me").count() == 1
    assert apply_migrations() == []


def test_one_open_stockpiling_per_visitor(ctx):
    import pytest
    from peewee import IntegrityError

    from backoffice.models import Stockpiling

    m = factories.merchant()
    ps = factories.payment_system()
    values = dict(merchant=m, payment_system=ps, label="visitor", currency="BDT")
    Stockpiling.create(**values, status="completed")
    Stockpiling.create(**values)
    with pytest.raises(IntegrityError):
        with db.atomic():
            Stockpiling.create(**values)


def test_money_comes_back_as_two_place_decimals(ctx):
    from decimal import Decimal

    from backoffice.models import Transaction

    m = factories.merchant()
    w = factories.wallet(m)
    for amount in ("757.50", "0.10", "1234567890.05", "10.005"):
        t = factories.transaction(w, amount=amount)
        stored = Transaction.get_by_id(t.id).amount
        assert isinstance(stored, Decimal)
        expected = Decimal(amount).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
        assert str(stored) == str(expected)
