"""No timing oracle (SPEC §11, issue 18): a right transaction number with the wrong
sender digits costs what an unknown number costs.

What it proves: through the whole plugin API (WSGI stack, body checks, the claim's
``UPDATE``, the lookup of the reason, the attempt log's ``INSERT``), on the merchant
whose policy asks for the sender digits, the median time of a mismatch (series M)
differs from the median time of an unknown number (series A and B, the same case
measured twice) by no more than the noise between A and B themselves (times three),
with a floor of 15 % of A's median for runs where A and B happen to agree closely.
The requests of the three series are interleaved in a shuffled order, after a
warm-up, with the garbage collector paused, so drift (caches, the attempt table
growing) falls on all three alike.

Both series do the same work: rate limits are off (a refused request would be cheaper),
velocity limits are off (no counting subquery), every request uses a label of its own
and the merchant has no delayed activation (no PendingActivation written for either).

The second test is the instrument's check: with a delay of a few requests' time added
to the mismatch path only, the same comparison must see it; a measurement that could
not would prove nothing. The third checks the work itself, without a clock: both
paths run the same SQL statements, in the same order, and build as many SQL texts in
Python (with delayed activation too).
"""
import gc
import random
import statistics
import time
from decimal import Decimal

import pytest

import factories
from backoffice import create_app
from backoffice.db import db
from backoffice.models import Merchant
from backoffice.services import matching
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest

SENDER = "01712345678"
WRONG = "1234"
WARM_UP = 30
SAMPLES = 160
REPORTED = 40


@pytest.fixture
def timed(app_config, app, conn):
    ps = factories.payment_system("bkash", "BDT")
    merchant = factories.merchant(name="Timed")
    factories.merchant_payment_system(merchant, ps, min_deposit="500.00")
    wallet = factories.wallet(merchant, ps)
    with app.app_context():
        matching.set_policy(merchant.id, {"require_sender": "y"}, actor=None)
        numbers = [ingest(Report("bkash", wallet.number, f"REAL-{i:05d}", Decimal("700.00"), "BDT",
                                 counterparty=SENDER)).transaction.transaction_number for i in range(REPORTED)]
    client = create_app(dict(app_config, RATELIMIT_ENABLED=False)).test_client()
    return client, merchant, numbers


def _series(client, merchant, numbers, rounds, first=0):
    """Time ``rounds`` requests of each series, interleaved in a shuffled order."""
    times = {"A": [], "M": [], "B": []}
    order = random.Random(18)

    def request(kind, i):
        number = numbers[i % len(numbers)] if kind == "M" else f"UNKN{kind}{i:05d}"
        body = {"merchant": merchant.public_key, "payment_system": "bkash", "transaction_number": number,
                "label": f"{kind}-{i}", "sender_last4": WRONG}
        start = time.perf_counter()
        response = client.post("/plugin/api/activate", json=body)
        elapsed = time.perf_counter() - start
        assert response.status_code == 200 and response.get_json() == {"status": "not_found"}, response.get_data()
        return elapsed

    for i in range(first, first + rounds):
        kinds = ["A", "M", "B"]
        order.shuffle(kinds)
        for kind in kinds:
            times[kind].append(request(kind, i))
    return times


def measure(client, merchant, numbers):
    """The three medians (seconds) after a warm-up; the collector paused meanwhile."""
    _series(client, merchant, numbers, WARM_UP)
    gc.collect()
    gc.disable()
    try:
        times = _series(client, merchant, numbers, SAMPLES, first=WARM_UP)
    finally:
        gc.enable()
    a, m, b = (statistics.median(times[k]) for k in "AMB")
    unknown = statistics.median(times["A"] + times["B"])
    return a, m, b, unknown


def verdict(a, m, b, unknown):
    difference = abs(m - unknown)
    bound = max(3 * abs(a - b), 0.15 * a)
    detail = (f"median A={a * 1e3:.3f} ms, B={b * 1e3:.3f} ms, M={m * 1e3:.3f} ms; "
              f"|M - A∪B|={difference * 1e3:.3f} ms, bound={bound * 1e3:.3f} ms")
    return difference <= bound, detail


def test_a_mismatch_takes_as_long_as_an_unknown_number(timed):
    client, merchant, numbers = timed
    within, detail = verdict(*measure(client, merchant, numbers))
    assert within, detail


def test_the_measurement_sees_a_slower_mismatch_path(timed, monkeypatch):
    client, merchant, numbers = timed
    rough = _series(client, merchant, numbers, WARM_UP, first=10 * SAMPLES)
    # A few requests' time more, on the mismatch path only (3 x: well over the noise).
    extra = 3 * max(statistics.median(rough["A"]), statistics.median(rough["B"]))
    original = matching.mismatch

    def slow_mismatch(*args, **kwargs):
        until = time.perf_counter() + extra
        while time.perf_counter() < until:
            pass
        return original(*args, **kwargs)

    monkeypatch.setattr(matching, "mismatch", slow_mismatch)
    within, detail = verdict(*measure(client, merchant, numbers))
    assert not within, detail


@pytest.mark.parametrize("delayed", [False, True], ids=["not_found", "pending"])
def test_both_paths_do_the_same_work(timed, app, monkeypatch, delayed):
    """Without a clock: the unknown number and the mismatch send the database the same
    statements (the values aside) and build the same number of SQL texts in Python (a
    query built, or an exception's message compiled, on one path only is time the
    other path does not spend)."""
    _client, merchant, numbers = timed
    if delayed:
        merchant.delayed_activation = True
        merchant.save()
    database = db.obj
    statements, built = [], []
    real_execute, real_context = database.execute_sql, database.get_sql_context

    def recording_execute(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return real_execute(sql, params, *args, **kwargs)

    def recording_context(*args, **kwargs):
        built.append(1)
        return real_context(*args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", recording_execute)
    monkeypatch.setattr(database, "get_sql_context", recording_context)
    cases = (("A", "UNKNOWN-{}"), ("M", None), ("B", "UNKNOWN-B-{}"))
    runs = {}
    with app.app_context():
        for attempt in range(2):  # the first builds what is built once per process
            for kind, pattern in cases:
                statements.clear()
                built.clear()
                number = numbers[attempt] if pattern is None else pattern.format(attempt)
                outcome = activate(Merchant.get_by_id(merchant.id), "bkash", number, f"{kind}-{attempt}",
                                   sender_last4=WRONG, network="203.0.113.0/24")
                assert outcome.status == ("pending" if delayed else "not_found")
                assert outcome.reason_code == ("sender_mismatch" if kind == "M" else outcome.status)
                runs[kind] = (list(statements), len(built))
    # The settings, the claim, the lookup, the attempt (and the pending entry's two).
    assert len(runs["A"][0]) >= (6 if delayed else 4), runs["A"]
    assert runs["A"] == runs["B"]  # the yardstick: the same case twice
    assert runs["M"][0] == runs["A"][0], "the same statements"
    assert runs["M"][1] == runs["A"][1], f"SQL built in Python: mismatch {runs['M'][1]}, unknown {runs['A'][1]}"
