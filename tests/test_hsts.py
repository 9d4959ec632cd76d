"""Issue 17, class 12: HSTS behind the documented TLS proxy.

Behind a TLS terminator (``BACKOFFICE_PROXY_HOPS`` = number of proxies) gunicorn sees
plain http; the proxy reports https in ``X-Forwarded-Proto``. HSTS must then be sent.
With ``PROXY_HOPS`` at 0 nothing stands in front and the header, which anyone can
write, is never trusted: no HSTS over plain http, whatever it says.
"""
import pytest

from backoffice import create_app

HSTS = "Strict-Transport-Security"
PAGES = ["/login", "/healthz", "/admin/"]


@pytest.fixture
def behind_proxy(app_config, app):
    return create_app(dict(app_config, PROXY_HOPS=1)).test_client()


@pytest.fixture
def direct(app_config, app):
    return create_app(dict(app_config, PROXY_HOPS=0)).test_client()


def get(client, path, proto=None, scheme="http"):
    headers = {"X-Forwarded-Proto": proto, "X-Forwarded-For": "203.0.113.9"} if proto else {}
    return client.get(path, base_url=f"{scheme}://backoffice.example", headers=headers)


@pytest.mark.parametrize("path", PAGES)
def test_https_reported_by_the_proxy_gets_hsts(behind_proxy, path):
    response = get(behind_proxy, path, proto="https")
    assert response.headers.get(HSTS) == "max-age=31536000; includeSubDomains", path
    # The proxy said http: no HSTS (a browser ignores it over http anyway).
    assert HSTS not in get(behind_proxy, path, proto="http").headers


@pytest.mark.parametrize("path", PAGES)
def test_without_a_proxy_a_forged_forwarded_proto_is_ignored(direct, path):
    assert HSTS not in get(direct, path, proto="https").headers
    assert HSTS not in get(direct, path).headers
    # TLS to the app itself still counts.
    assert get(direct, path, scheme="https").headers.get(HSTS) == "max-age=31536000; includeSubDomains"
