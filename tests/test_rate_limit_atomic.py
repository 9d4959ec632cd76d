"""Issue 17, class 12: a limit of N lets exactly N through, however many race for it.

Counted-on-failure limits take their count before the view runs (one atomic
increment) and give it back when the answer does not count
(``extensions.failure_limits``), on Redis and in memory alike.
"""
import threading
import uuid

import pytest
from conftest import csrf_from

from backoffice import create_app

THREADS, LIMIT = 48, 30


def hammer(app, path, make_kwargs):
    barrier = threading.Barrier(THREADS)
    statuses = [None] * THREADS

    def work(i):
        client = app.test_client()
        kwargs = make_kwargs(client, i)
        barrier.wait()
        statuses[i] = client.post(path, **kwargs).status_code

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return statuses


def storage(kind, redis_url):
    if kind == "memory":
        return "memory://"
    return ("redis+" + redis_url) if redis_url.startswith("unix://") else redis_url


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_plugin_limit_is_exact_under_concurrency(app_config, redis_url, conn, kind):
    app_config.update(RATELIMIT_STORAGE_URI=storage(kind, redis_url),
                      PLUGIN_LIMIT_PER_ADDRESS=f"{LIMIT} per minute", PLUGIN_LIMIT_PER_LABEL="1000 per minute",
                      PLUGIN_LIMIT_PER_NUMBER="1000 per minute", RATELIMIT_KEY_PREFIX=uuid.uuid4().hex)
    app = create_app(app_config)
    # Malformed bodies: answered 400 without touching the database, and counted.
    statuses = hammer(app, "/plugin/api/activate", lambda client, i: {"json": {"merchant": f"m{i}"}})
    assert statuses.count(429) == THREADS - LIMIT, statuses
    assert statuses.count(400) == LIMIT


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_sign_in_limit_is_exact_under_concurrency(app_config, redis_url, conn, kind):
    app_config.update(RATELIMIT_STORAGE_URI=storage(kind, redis_url), LOGIN_RATE_LIMIT=f"{LIMIT} per minute",
                      WTF_CSRF_ENABLED=False, RATELIMIT_KEY_PREFIX=uuid.uuid4().hex)
    app = create_app(app_config)
    statuses = hammer(app, "/login", lambda client, i: {"data": {"login": f"x{i}@example.test",
                                                                 "password": "wrong password"}})
    assert statuses.count(429) == THREADS - LIMIT, statuses
    assert statuses.count(401) + statuses.count(403) == LIMIT  # wrong, or the address locked


def test_memory_fallback_is_exact_under_concurrency(app_config, conn):
    app_config.update(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", PLUGIN_LIMIT_PER_ADDRESS=f"{LIMIT} per minute",
                      PLUGIN_LIMIT_PER_LABEL="1000 per minute", PLUGIN_LIMIT_PER_NUMBER="1000 per minute")
    app = create_app(app_config)
    app.test_client().post("/plugin/api/activate", json={})  # finds the storage dead: the fallback counts
    statuses = hammer(app, "/plugin/api/activate", lambda client, i: {"json": {"merchant": f"m{i}"}})
    assert statuses.count(429) == THREADS - LIMIT + 1, statuses


def test_limits_switched_off_start_and_limit_nothing(app_config, conn):
    """``BACKOFFICE_RATELIMIT_ENABLED=0`` (benches, a proxy that limits): the app starts
    and no request is refused."""
    app_config.update(RATELIMIT_ENABLED=False, PLUGIN_LIMIT_PER_ADDRESS=f"{LIMIT} per minute")
    app = create_app(app_config)
    statuses = hammer(app, "/plugin/api/activate", lambda client, i: {"json": {"merchant": f"m{i}"}})
    assert statuses.count(429) == 0 and statuses.count(400) == THREADS, statuses
