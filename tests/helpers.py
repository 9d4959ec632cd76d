"""Signing in through the real pages (password, then the TOTP code when needed)."""
from conftest import csrf_from

import contextlib
import threading
import time

import pyotp

from backoffice.db import db
from backoffice.models import User
from factories import PASSWORD


class TotpClock:
    """The wall clock plus an offset: an app's ``TOTP_CLOCK`` that tests move forward a
    30-second step at a time instead of waiting for the next one."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.time() + self.offset

    def advance(self, seconds):
        self.offset += seconds


def totp_clock(app=None):
    """The :class:`TotpClock` of ``app`` (default: the test's app), installed on first use."""
    import factories

    app = app or factories.APP
    clock = app.config.get("TOTP_CLOCK")
    if not isinstance(clock, TotpClock):
        clock = app.config["TOTP_CLOCK"] = TotpClock()
    return clock


def fresh_code(user, app=None):
    """A valid code that the user has not spent yet (replays are refused).

    The current step or the next one: a step boundary passing before the server checks
    it leaves either inside the ±1 window (the previous step would fall out). When both
    are spent, the app's TOTP clock moves on a step, where the test used to sleep.
    """
    user = User.get_by_id(user.id)
    totp = pyotp.TOTP(user.totp_secret)
    clock = totp_clock(app)
    while True:
        current = int(clock() // totp.interval)
        for step in (current, current + 1):
            if step > user.totp_last_step:
                return totp.generate_otp(step)
        clock.advance(totp.interval)


def login(client, user, password=PASSWORD, code=None):
    page = client.get("/login")
    response = client.post("/login", data={"login": user.login, "password": password,
                                           "csrf_token": csrf_from(page)})
    if response.status_code == 302 and "/login/code" in response.headers["Location"]:
        page = client.get("/login/code")
        response = client.post("/login/code", data={"code": code or fresh_code(user, client.application),
                                                    "csrf_token": csrf_from(page)})
    return response


def post_form(client, page_url, url, data):
    """POST ``data`` to ``url`` with the CSRF token of ``page_url``."""
    token = csrf_from(client.get(page_url))
    return client.post(url, data=dict(data, csrf_token=token))


def run_threads(app, count, work):
    """Run ``work(i)`` in ``count`` threads released together, each with its own connection."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def target(i):
        try:
            with app.app_context(), db.connection_context():
                barrier.wait()
                results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


@contextlib.contextmanager
def statements():
    """The SQL statements run inside the block, as a list (a real database, counted at
    ``execute_sql``): "no query per row" tests."""
    counted = []
    original = db.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        counted.append(sql)
        return original(sql, params, *args, **kwargs)

    db.obj.execute_sql = counting
    try:
        yield counted
    finally:
        db.obj.execute_sql = original
