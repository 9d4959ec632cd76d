"""``backoffice.origins``: the one rule for an allowed origin (settings and plugin)."""
import pytest

from backoffice.origins import normalise_origin, url_origin
from backoffice.plugin_builder import cors
from backoffice.services import merchant_settings


@pytest.mark.parametrize("value, expected", [
    ("https://Shop.Example.com", "https://shop.example.com"),
    ("https://shop.example.com/", "https://shop.example.com"),
    ("  http://shop.example.com:8080 ", "http://shop.example.com:8080"),
    ("https://shop.example.com:443", "https://shop.example.com"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("https://xn--80ak6aa92e.com", "https://xn--80ak6aa92e.com"),
    ("https://shop.example.com/path", None),
    ("https://user@shop.example.com", None),
    ("https://shop.example.com?q=1", None),
    ("ftp://shop.example.com", None),
    ("https://[::1]", None),
    ("https://-shop.example.com", None),
    ("https://shop..example.com", None),
    ("https://shop.example.com:99999", None),
    ("null", None),
    ("", None),
    (None, None),
    (42, None),
])
def test_normalise_origin(value, expected):
    assert normalise_origin(value) == expected


def test_url_origin():
    assert url_origin("https://Shop.example.com:443/thanks?x=1") == "https://shop.example.com"
    assert url_origin("not a url") is None


def test_the_plugin_and_the_settings_share_the_rule():
    assert cors.normalise_origin is normalise_origin is merchant_settings.normalise_origin
