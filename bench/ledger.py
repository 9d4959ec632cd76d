"""The ledger against the old sum: a balance read and a withdrawal request, for a
merchant with 10 thousand and with 1 million completed deposits (SPEC §9).

    .venv/bin/python bench/ledger.py --database postgresql://postgres@127.0.0.1:5432/bench_ledger

Seeds (``--fresh``, or a database without the bench merchants) one merchant per size
with that many completed deposits, by set-based SQL as ``backoffice/bench_data.py``
does, then books the history as migration 0007 does (``book_history``) and runs
``VACUUM ANALYZE``. Then, in process on one connection, times per merchant:

* balance read: ``ledger.available`` (one Balance row) beside the old rule,
  ``ledger_verify.source_totals(merchant_id)`` (the sums over the whole history the
  balance was before the ledger);
* withdrawal request: ``services.withdrawals.create_withdrawal`` (merchant lock,
  the balance row locked and checked, the request, its hold entry, the audit entry)
  beside the same request under the old rule (merchant lock, ``source_totals``, the
  request, the audit entry); each inside a transaction that is rolled back, so the
  balance and the tables stay as seeded.

Prints p50/p95 per case and the ratio 1M/10k of each. Target: the ledger's cost at
1M within 1.5x of its cost at 10k.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common import recreate_database  # noqa: E402 - bench/ is on the path when run as a script
from harness import percentile  # noqa: E402

SEED_SQL = """
INSERT INTO "transaction" (wallet_id, payment_system_id, merchant_id, amount, currency, commission,
    transaction_number, direction, counterparty, label, order_id, type, originality, status, postback_status,
    created_at, activated_at)
SELECT %(wallet)s, %(ps)s, %(merchant)s, round((500 + a * 4500)::numeric, 2), 'BDT',
       round(((500 + a * 4500) * 0.02)::numeric, 2), %(prefix)s || g, 'incoming', '',
       'user-' || mod(g, 50000), 'ord-' || g, 'auto', 'normal', 'activated', 'sent',
       date_trunc('second', created), date_trunc('second', created + interval '1 minute')
FROM (SELECT g, random() AS a, (now() AT TIME ZONE 'UTC') - (random() * 365 * interval '1 day') AS created
      FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g) AS s
"""
BATCH = 250_000
FIELDS = {"recipient_wallet": "01712345678", "recipient_name": "Bench Recipient"}


def label(size):
    return f"{size // 1_000_000}M" if size >= 1_000_000 and size % 1_000_000 == 0 else f"{size // 1000}k"


def seed(sizes):
    """One merchant per size ("Ledger 10k", …) with ``size`` completed deposits, booked."""
    from backoffice.db import db
    from backoffice.demo import PAYMENT_SYSTEMS
    from backoffice.migrations.history import book_history
    from backoffice.models import Merchant, MerchantPaymentSystem, PaymentSystem, Wallet
    from backoffice.services.merchants import create_merchant

    code, name, currency, fields = next(p for p in PAYMENT_SYSTEMS if p[0] == "bkash")
    ps = PaymentSystem.get_or_none(PaymentSystem.code == code) or PaymentSystem.create(
        code=code, name=name, currency=currency, withdrawal_fields=fields)
    merchants = {}
    for size in sizes:
        mname = f"Ledger {label(size)}"
        m = Merchant.get_or_none(Merchant.name == mname)
        if m is not None:
            merchants[size] = m
            continue
        started = time.time()
        with db.atomic():
            m = create_merchant(mname, None, timezone="UTC")
            MerchantPaymentSystem.create(merchant=m, payment_system=ps, min_deposit=500, commission_percent=2)
            wallet = Wallet.create(merchant=m, payment_system=ps, identifier=f"ledger-{m.id}", number=f"8{m.id:010d}")
        for first in range(1, size + 1, BATCH):
            with db.atomic():
                db.execute_sql(SEED_SQL, {"wallet": wallet.id, "ps": ps.id, "merchant": m.id, "prefix": f"L{m.id}-",
                                          "first": first, "last": min(first + BATCH - 1, size)})
        print(f"  seeded {size} deposits for {mname} in {time.time() - started:.0f} s", flush=True)
        merchants[size] = m
    started = time.time()
    written = book_history(db)
    print(f"  booked the history: {written} entries in {time.time() - started:.0f} s", flush=True)
    started = time.time()
    for table in ("transaction", "ledger_entry", "balance", "withdrawal", "audit_log"):
        db.execute_sql(f'VACUUM ANALYZE "{table}"')
    print(f"  VACUUM ANALYZE in {time.time() - started:.0f} s", flush=True)
    return ps, merchants


def timed(call, repeat, warmup=5):
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/bench_ledger")
    parser.add_argument("--sizes", default="10000,1000000", help="completed deposits per merchant, comma-separated")
    parser.add_argument("--reads", type=int, default=2000, help="repetitions of the ledger's balance read")
    parser.add_argument("--requests", type=int, default=300, help="repetitions of the ledger's withdrawal request")
    parser.add_argument("--old", type=int, default=40, help="repetitions of each old-rule case")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    args = parser.parse_args()
    if not args.database.startswith("postgresql://"):
        raise SystemExit("--database must be a PostgreSQL URL")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.fresh:
        recreate_database(args.database)

    from backoffice import create_app
    from backoffice.db import apply_migrations, db
    from backoffice.models import Withdrawal, utcnow
    from backoffice.services import audit, ledger, withdrawals
    from backoffice.services.ledger_verify import source_totals

    app = create_app({"DATABASE_URL": args.database, "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-ledger-"),
                      "SECRET_KEY": "bench-only", "RATELIMIT_ENABLED": False})
    apply_migrations()
    started = time.time()
    with app.app_context(), db.connection_context():
        ps, merchants = seed(sizes)
        print(f"seeding and booking: {time.time() - started:.0f} s; PostgreSQL, in process, one connection",
              flush=True)

        def rolled_back(work):
            def call():
                with db.atomic() as txn:
                    work()
                    txn.rollback()
            return call

        def ledger_request(m):
            return rolled_back(lambda: withdrawals.create_withdrawal(m, ps, "10.00", "BDT", fields=FIELDS))

        def old_request(m):
            def work():
                # What create_withdrawal did before the ledger: the sum under the merchant's lock.
                with withdrawals.merchant_lock(m.id):
                    available = source_totals(m.id)[(m.id, "BDT")][0]
                    assert available >= 10
                    w = Withdrawal.create(merchant=m.id, payment_system=ps, withdrawal_id=f"old-{time.time_ns()}",
                                          amount=10, currency="BDT", wallet_recipient=FIELDS["recipient_wallet"],
                                          fields=FIELDS, request_kind="manual", status="new", created_at=utcnow())
                    audit.record(None, "withdrawal.create", w, merchant=m.id, summary={"amount": "10.00"})
            return rolled_back(work)

        cases = [
            ("balance read", "ledger", lambda m: (lambda: ledger.available(m, "BDT")), args.reads),
            ("balance read", "old sum", lambda m: (lambda: source_totals(m.id)), args.old),
            ("withdrawal request", "ledger", ledger_request, args.requests),
            ("withdrawal request", "old sum", old_request, args.old),
        ]
        def books():
            return {m.id: [(b.currency, b.available, b.on_hold) for b in ledger.balance_rows(m)]
                    for m in merchants.values()}

        before = books()
        for m in merchants.values():  # the booked history is the old rule's balance
            assert ledger.available(m, "BDT") == source_totals(m.id)[(m.id, "BDT")][0]
        results = {}
        for size, m in merchants.items():
            for operation, rule, make, repeat in cases:
                results[(operation, rule, size)] = timed(make(m), repeat)
        assert books() == before and not Withdrawal.select().exists()  # rolled back: nothing stayed

    small, large = sizes[0], sizes[-1]
    head = (f"{'case':38} " + " ".join(f"{'p50 ' + label(s):>10} {'p95 ' + label(s):>10}" for s in sizes)
            + f" {'p50 ratio':>10} {'p95 ratio':>10}")
    print(head)
    for operation, rule, _make, repeat in cases:
        row = f"{operation + ', ' + rule + f' (n={repeat})':38} "
        for size in sizes:
            samples = results[(operation, rule, size)]
            row += f"{statistics.median(samples):8.3f}ms {percentile(samples, 95):8.3f}ms "
        a, b = results[(operation, rule, small)], results[(operation, rule, large)]
        row += f"{statistics.median(b) / statistics.median(a):9.2f}x {percentile(b, 95) / percentile(a, 95):9.2f}x"
        print(row)
    verdicts = []
    for operation in ("balance read", "withdrawal request"):
        a, b = results[(operation, "ledger", small)], results[(operation, "ledger", large)]
        ratio = statistics.median(b) / statistics.median(a)
        verdicts.append(f"{operation}: {ratio:.2f}x ({'met' if ratio <= 1.5 else 'MISSED'})")
    print(f"target, the ledger's p50 at {label(large)} within 1.5x of {label(small)}: " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
