"""backoffice rebuild-stats and import-rates."""
import datetime
from decimal import Decimal

from backoffice.models import ExchangeRate


def test_import_rates_all_or_nothing(runner, conn, tmp_path):
    good = tmp_path / "rates.csv"
    good.write_text("currency,rate_to_usd,effective_date\nBDT,0.0083,2026-01-01\ninr,0.012,2026-01-02\n")
    result = runner.invoke(args=["import-rates", str(good)])
    assert result.exit_code == 0, result.output
    assert ExchangeRate.get(ExchangeRate.currency == "INR").rate_to_usd == Decimal("0.012")
    # The same date again replaces the rate.
    good.write_text("currency,rate_to_usd,effective_date\nBDT,0.0090,2026-01-01\n")
    assert runner.invoke(args=["import-rates", str(good)]).exit_code == 0
    assert ExchangeRate.get(ExchangeRate.currency == "BDT").rate_to_usd == Decimal("0.009")
    bad = tmp_path / "bad.csv"
    bad.write_text("currency,rate_to_usd,effective_date\nPKR,0.0036,2026-01-01\nPKR,-1,2026-01-02\nXX,1,01/02/2026\n")
    result = runner.invoke(args=["import-rates", str(bad)])
    assert result.exit_code != 0
    assert "line 3, rate_to_usd" in result.output and "line 4, currency" in result.output
    assert "line 4, effective_date" in result.output
    assert not ExchangeRate.select().where(ExchangeRate.currency == "PKR").exists()  # nothing saved
    assert ExchangeRate.select().count() == 2


def test_rebuild_stats_command(runner, conn):
    assert runner.invoke(args=["demo", "--transactions", "300"]).exit_code == 0
    from backoffice.models import StatBucket

    # Rows emptied by a move (a stockpiling completing) stay at zero; a rebuild makes none.
    buckets = StatBucket.select().where(StatBucket.count != 0)
    before = sorted((b.merchant_id, b.kind, b.date_kind, b.bucket, b.amount, b.count) for b in buckets)
    assert before
    result = runner.invoke(args=["rebuild-stats"])
    assert result.exit_code == 0 and "buckets" in result.output
    after = sorted((b.merchant_id, b.kind, b.date_kind, b.bucket, b.amount, b.count) for b in buckets.clone())
    assert after == before
    assert datetime.date  # dates only in UTC buckets


def test_seed_bench_makes_consistent_rows(runner, conn):
    from backoffice.models import StatBucket, Transaction

    result = runner.invoke(args=["seed-bench", "--transactions", "2000", "--merchants", "2", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert Transaction.select().count() == 2000
    activated = Transaction.select().where(Transaction.status == "activated")
    assert 1000 < activated.count() < 1800
    assert not activated.where(Transaction.activated_at.is_null()).exists()
    assert Transaction.select().where((Transaction.status == "new") & Transaction.activated_at.is_null(False)).count() == 0
    rolled = sum(b.count for b in StatBucket.select().where((StatBucket.kind == "deposit")
                                                             & (StatBucket.date_kind == "created")))
    assert rolled == activated.count()
    again = runner.invoke(args=["seed-bench", "--transactions", "10", "--merchants", "2"])
    assert again.exit_code == 0 and Transaction.select().count() == 2010
