"""The dashboard endpoint over big tables.

    .venv/bin/python bench/dashboard.py --database postgresql://postgres@127.0.0.1:5432/bench_dashboard \
        --transactions 1000000 [--fresh]
    .venv/bin/python bench/dashboard.py --database sqlite:////tmp/bench_dashboard.sqlite3 --transactions 1000000 --fresh

Seeds the database with ``backoffice seed-bench`` up to the number of transactions
asked for (a later run with a larger number only adds the difference), then times
``GET /admin/dashboard/stats.json`` for a 90-day range, as a merchant owner (one
merchant, converted to USD) and as an operator (all merchants, with details), and
prints p50/p95/max over the repetitions. Target (issue 9): under 50 ms.
"""
import argparse
import os
import statistics as stats
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from common import recreate_database  # noqa: E402 - bench/ is on the path when run as a script


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    args = parser.parse_args()
    if args.fresh:
        recreate_database(args.database)

    from backoffice import create_app
    from backoffice.bench_data import seed
    from backoffice.db import apply_migrations, db
    from backoffice.models import Merchant, Transaction, User
    from backoffice.services.accounts import create_user

    app = create_app({"DATABASE_URL": args.database, "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-dash-"),
                      "SECRET_KEY": "bench-only", "WTF_CSRF_ENABLED": False, "SESSION_COOKIE_SECURE": False,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "RATELIMIT_ENABLED": False})
    apply_migrations()
    with app.app_context(), db.connection_context():
        have = Transaction.select().where(Transaction.transaction_number.startswith("S")).count()
        if have < args.transactions:
            started = time.time()
            seed(args.transactions - have, progress=lambda n: print(f"  seeded {n}", flush=True))
            print(f"seeded {args.transactions - have} transactions in {time.time() - started:.0f} s")
        total = Transaction.select().count()
        merchant = Merchant.select().where(Merchant.name == "Bench 1").get()
        for login, role, m in (("bench-owner@example.test", "merchant_owner", merchant),
                               ("bench-operator@example.test", "operator", None)):
            if not User.select().where(User.login == login).exists():
                create_user(login, "bench password 1", role, merchant=m, totp_secret=None)
        from backoffice.security import new_totp_secret

        User.update(totp_secret=new_totp_secret(), totp_last_step=0).where(User.role == "operator").execute()

    def timed(client, query):
        samples = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get("/admin/dashboard/stats.json?" + query)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
        samples.sort()
        return stats.median(samples), samples[int(len(samples) * 0.95) - 1], samples[-1]

    import datetime

    end = datetime.date.today()
    start = end - datetime.timedelta(days=89)
    period = f"date_from={start}&date_to={end}"
    print(f"database: {args.database.split('://')[0]}; transactions: {total}")
    for login, query, label in (
        ("bench-owner@example.test", period + "&display_in=USD", "merchant owner, 90 days, USD"),
        ("bench-owner@example.test", period + "&group_by=activated&completed_stockpiling=1",
         "merchant owner, 90 days, by activation"),
        ("bench-operator@example.test", period + "&details=1", "operator, all merchants, 90 days, details"),
    ):
        client = app.test_client()
        response = client.post("/login", data={"login": login, "password": "bench password 1"})
        if "/login/code" in response.headers.get("Location", ""):  # the operator's second factor
            import pyotp

            with app.app_context(), db.connection_context():
                secret = User.get(User.login == login).totp_secret
            response = client.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
        assert response.status_code == 302, response.status_code
        p50, p95, worst = timed(client, query)
        print(f"{label:45s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {worst:6.1f} ms")


if __name__ == "__main__":
    main()
