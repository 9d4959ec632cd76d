"""Migration 0007 on a database made by the previous release (migrations up to 0006,
data in every state): the history is booked in order and every balance is exactly what
the previous release's sum made it. The old schema is written to with plain SQL (the
models describe today's schema, not that one)."""
import datetime
from decimal import Decimal

from playhouse.migrations import Runner

from backoffice.db import MIGRATIONS_DIR
from migration_support import T0, insert, old_database  # noqa: F401 - a fixture


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


def build_history(database):
    """Two merchants, two currencies, every state of a deposit and a withdrawal."""
    bkash = insert(database, "payment_system", code="bkash", name="bKash", currency="BDT", active=True,
                   withdrawal_fields="[]")
    paytm = insert(database, "payment_system", code="paytm", name="PayTM", currency="INR", active=True,
                   withdrawal_fields="[]")
    shop = insert(database, "merchant", name="Shop", public_key="pk_1", api_key="sk_1", timezone="Asia/Dhaka",
                  active=True)
    other = insert(database, "merchant", name="Other", public_key="pk_2", api_key="sk_2", timezone="UTC",
                   active=True)
    w_bdt = insert(database, "wallet", merchant_id=shop, payment_system_id=bkash, identifier="w1", number="0171",
                   active=True)
    w_inr = insert(database, "wallet", merchant_id=shop, payment_system_id=paytm, identifier="w2", number="9876",
                   active=True)
    w_other = insert(database, "wallet", merchant_id=other, payment_system_id=bkash, identifier="w3",
                     number="0181", active=True)
    n = iter(range(1, 1000))

    def tx(wallet, ps, merchant, amount, commission, minute, **state):
        values = dict(wallet_id=wallet, payment_system_id=ps, merchant_id=merchant, amount=Decimal(amount),
                      commission=Decimal(commission), currency="BDT" if ps == bkash else "INR",
                      transaction_number=f"N{next(n)}", direction="incoming", type="auto", originality="normal",
                      status="activated", postback_status="sent", created_at=at(minute), activated_at=at(minute + 1))
        values.update(state)
        return insert(database, "transaction", **values)

    tx(w_bdt, bkash, shop, "1000.00", "25.00", 0)                         # single, sent
    tx(w_bdt, bkash, shop, "600.00", "15.00", 10, postback_status="error")  # single, delivery failed: still money
    tx(w_bdt, bkash, shop, "700.00", "17.50", 20, postback_status="pending")
    tx(w_bdt, bkash, shop, "900.00", "22.50", 30, originality="fraud")     # marked fraud: not money
    tx(w_bdt, bkash, shop, "999.00", "0.00", 35, status="new", postback_status="not_activated", activated_at=None)
    tx(w_bdt, bkash, shop, "50.00", "1.25", 36, direction="outgoing")
    done = insert(database, "stockpiling", merchant_id=shop, payment_system_id=bkash, label="v", currency="BDT",
                  required_amount=Decimal("500.00"), accumulated_amount=Decimal("500.00"), status="completed",
                  created_at=at(40), completed_at=at(55))
    for minute in (40, 45, 50):
        tx(w_bdt, bkash, shop, "200.00" if minute != 50 else "100.00", "1.00", minute, stockpiling_id=done,
           stockpiling_end_at=at(55))
    open_sp = insert(database, "stockpiling", merchant_id=shop, payment_system_id=bkash, label="u", currency="BDT",
                     required_amount=Decimal("500.00"), accumulated_amount=Decimal("100.00"), created_at=at(60),
                     status="in_progress")
    tx(w_bdt, bkash, shop, "100.00", "2.50", 60, stockpiling_id=open_sp, postback_status="stockpiling")
    tx(w_inr, paytm, shop, "300.10", "0.05", 70)
    tx(w_other, bkash, other, "5000.00", "0.00", 5)

    def wd(merchant, ps, amount, minute, status, decided=None):
        return insert(database, "withdrawal", merchant_id=merchant, payment_system_id=ps,
                      withdrawal_id=f"wd-{next(n)}", amount=Decimal(amount), currency="BDT" if ps == bkash else "INR",
                      status=status, fields="{}", request_kind="api", created_at=at(minute),
                      decided_at=at(decided) if decided else None)

    wd(shop, bkash, "300.00", 80, "approved", 90)
    wd(shop, bkash, "200.00", 85, "rejected", 95)
    wd(shop, bkash, "150.00", 100, "new")
    wd(other, bkash, "1000.00", 110, "new")


def test_migration_books_the_previous_releases_history(old_database):
    runner = Runner(old_database, MIGRATIONS_DIR)
    runner.up("0006_balance_index")
    build_history(old_database)

    assert "0007_ledger" in runner.up("0007_ledger")

    balances = {(m, c): (Decimal(str(a)).quantize(Decimal("0.01")), Decimal(str(h)).quantize(Decimal("0.01")))
                for m, c, a, h in old_database.execute_sql(
                    'SELECT "merchant_id", "currency", "available", "on_hold" FROM "balance"').fetchall()}
    # Shop, BDT: deposits 1000 + 600 + 700 + (200 + 200 + 100) − commission 25 + 15 + 17.50 + 3
    # = 2739.50; less the withdrawals approved (300) and new (150): 2289.50, 150 on hold.
    assert balances == {
        (1, "BDT"): (Decimal("2289.50"), Decimal("150.00")),
        (1, "INR"): (Decimal("300.05"), Decimal("0.00")),
        (2, "BDT"): (Decimal("4000.00"), Decimal("1000.00")),
    }
    rows = old_database.execute_sql(
        'SELECT "merchant_id", "currency", "kind", "amount", "hold", "available_after", "on_hold_after", '
        '"source_type", "created_at" FROM "ledger_entry" ORDER BY "id"').fetchall()
    running = {}
    for merchant, currency, kind, amount, hold, available_after, on_hold_after, source, created in rows:
        a, h = running.get((merchant, currency), (Decimal("0"), Decimal("0")))
        a, h = a + Decimal(str(amount)), h + Decimal(str(hold))
        running[(merchant, currency)] = (a, h)
        assert (Decimal(str(available_after)), Decimal(str(on_hold_after))) == (a, h)
    shop_bdt = [(kind, source) for m, c, kind, *_rest, source, _ in rows if (m, c) == (1, "BDT")]
    assert shop_bdt[:2] == [("deposit", "transaction"), ("commission", "transaction")]
    assert ("deposit", "stockpiling") in shop_bdt and shop_bdt[-1] == ("withdrawal_hold", "withdrawal")
    created = [row[-1] for row in rows if (row[0], row[1]) == (1, "BDT")]
    assert created == sorted(created)  # booked in the order it happened

    assert all(name > "0007" for name in runner.up())  # the later migrations apply on top
