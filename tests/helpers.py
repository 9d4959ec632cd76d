"""Signing in through the real pages (password, then the TOTP code when needed)."""
from conftest import csrf_from

import threading
import time

import pyotp

from backoffice.db import db
from backoffice.models import User
from factories import PASSWORD


def fresh_code(user):
    """A valid code that the user has not spent yet (replays are refused)."""
    user = User.get_by_id(user.id)
    totp = pyotp.TOTP(user.totp_secret)
    current = int(time.time() // totp.interval)
    for step in (current - 1, current, current + 1):
        if step > user.totp_last_step:
            return totp.generate_otp(step)
    time.sleep(totp.interval - time.time() % totp.interval + 0.1)
    return fresh_code(user)


def login(client, user, password=PASSWORD, code=None):
    page = client.get("/login")
    response = client.post("/login", data={"login": user.login, "password": password,
                                           "csrf_token": csrf_from(page)})
    if response.status_code == 302 and "/login/code" in response.headers["Location"]:
        page = client.get("/login/code")
        response = client.post("/login/code", data={"code": code or fresh_code(user),
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
