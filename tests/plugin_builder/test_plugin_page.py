"""The plugin page and the loader as a browser gets them: framing policy, language,
signed labels, redirect targets, prompts, the loader's size."""
import gzip
import json
import re
from urllib.parse import urlencode

import pytest

from plugin_support import plugin_shop  # noqa: F401 - fixture

from backoffice.plugin_builder.signing import label_signature


def page(client, merchant, headers=None, **params):
    query = dict(merchant=merchant.public_key, label="visitor-1")
    query.update(params)
    return client.get("/plugin/v1/page?" + urlencode(query), headers=headers or {})


def settings_of(response):
    match = re.search(r'<script type="application/json" id="bo-settings">(.*?)</script>',
                      response.get_data(as_text=True), re.S)
    assert match, "no settings block"
    return json.loads(match.group(1))


def test_page_frame_ancestors_are_the_allowed_origins(client, plugin_shop):
    response = page(client, plugin_shop["merchant"])
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors https://shop.example http://127.0.0.1:8123" in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "X-Frame-Options" not in response.headers
    other = page(client, plugin_shop["other"])
    assert "frame-ancestors https://other.example" in other.headers["Content-Security-Policy"]


def test_no_allowed_origins_means_nobody_may_frame(client, plugin_shop):
    m = plugin_shop["merchant"]
    m.allowed_origins = ["javascript:alert(1)", "https://x.example; script-src *"]
    m.save()
    csp = page(client, m).headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'none'")


def test_steps_and_words_in_english_and_russian(client, plugin_shop):
    text = page(client, plugin_shop["merchant"], lang="en").get_data(as_text=True)
    assert "Choose a payment system" in text and "Minimum deposit: 500.00 BDT" in text
    assert 'role="status" aria-live="polite"' in text and '<label for="bo-number"' in text
    ru = page(client, plugin_shop["merchant"], lang="ru").get_data(as_text=True)
    assert "Выберите платёжную систему" in ru and 'lang="ru"' in ru
    assert settings_of(page(client, plugin_shop["merchant"], lang="ru"))["messages"]["activated"].startswith(
        "Платёж получен")
    by_browser = page(client, plugin_shop["merchant"], headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert "Выберите платёжную систему" in by_browser.get_data(as_text=True)
    fallback = page(client, plugin_shop["merchant"], lang="xx", headers={"Accept-Language": "de"})
    assert "Choose a payment system" in fallback.get_data(as_text=True)


def test_wallet_shown_is_one_of_the_active_wallets(client, plugin_shop):
    text = page(client, plugin_shop["merchant"]).get_data(as_text=True)
    numbers = {w.number for w in plugin_shop["wallets"]}
    shown = re.findall(r'data-testid="wallet-bkash">([^<]+)<', text)
    assert len(shown) == 1 and shown[0] in numbers
    assert "01999999999" not in text  # the other merchant's wallet
    only = page(client, plugin_shop["merchant"], payment_systems="nagad").get_data(as_text=True)
    assert 'value="nagad"' in only and 'value="bkash"' not in only


def test_signed_labels(client, plugin_shop):
    m = plugin_shop["merchant"]
    m.require_signed_labels = True
    m.save()
    assert page(client, m).status_code == 403
    assert page(client, m, signature="0" * 64).status_code == 403
    signature = label_signature(m.plugin_secret, "visitor-1", "o-1")
    good = page(client, m, order_id="o-1", signature=signature)
    assert good.status_code == 200
    assert settings_of(good)["signature"] == signature
    assert page(client, m, order_id="o-2", signature=signature).status_code == 403


def test_unknown_disabled_and_unlabelled(client, plugin_shop):
    assert client.get("/plugin/v1/page?merchant=pk_nobody&label=x").status_code == 404
    assert page(client, plugin_shop["merchant"], label="").status_code == 400
    m = plugin_shop["merchant"]
    m.active = False
    m.save()
    response = page(client, m)
    assert response.status_code == 403 and "not available" in response.get_data(as_text=True)


def test_parent_and_redirect_targets_must_be_allowed_origins(client, plugin_shop):
    m = plugin_shop["merchant"]
    m.after_payment = "redirect"
    m.save()
    settings = settings_of(page(client, m, parent="https://shop.example",
                                success_url="https://shop.example/thanks?x=1",
                                fail_url="https://evil.example/phish", pending_url="javascript:alert(1)"))
    assert settings["parent"] == "https://shop.example" and settings["after"] == "redirect"
    assert settings["redirects"] == {"success": "https://shop.example/thanks?x=1", "fail": None, "pending": None}
    assert settings_of(page(client, m, parent="https://evil.example"))["parent"] is None


def test_hostile_label_cannot_break_out_of_the_page(client, plugin_shop):
    label = '</script><script>alert(1)</script>"'
    response = page(client, plugin_shop["merchant"], label=label)
    text = response.get_data(as_text=True)
    assert "<script>alert(1)" not in text
    assert settings_of(response)["label"] == label


def test_prompt_and_own_theme_in_the_page(client, plugin_shop):
    m = plugin_shop["merchant"]
    mps = plugin_shop["mps_b"]
    mps.gif_prompt = "ab" * 16 + ".gif"
    mps.save()
    m.theme, m.own_css, m.own_css_hash = "own", ":root {\n  --bo-bg: #000;\n}\n", "f" * 64
    m.save()
    text = page(client, m, lang="en").get_data(as_text=True)
    assert f'src="/plugin/v1/prompts/{"ab" * 16}.gif"' in text and 'alt="How to pay with bKash"' in text
    assert f'/plugin/v1/themes/{m.public_key}/{"f" * 16}.css' in text
    m.theme = "dark"
    m.save()
    assert "/static/themes/dark.css" in page(client, m).get_data(as_text=True)


def test_loader_is_small_plain_javascript(client):
    response = client.get("/plugin/v1/loader.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    body = response.get_data()
    assert len(gzip.compress(body, 9)) < 2048
    for name in ("merchant", "label", "orderId", "paymentSystems", "lang", "signature", "container", "successUrl",
                 "failUrl", "pendingUrl"):
        assert name in body.decode()
    assert b"backoffice:deposit" in body and b"e.origin !== origin" in body


@pytest.mark.parametrize("name", ["dark", "light", "white-green"])
def test_built_in_themes_are_served(client, name):
    response = client.get(f"/static/themes/{name}.css")
    assert response.status_code == 200 and b"--bo-accent" in response.get_data()
    response.close()


def test_every_outcome_message_uses_only_what_the_api_answers(ctx):
    """The page fills ``{name}`` from the activation answer: each placeholder must exist."""
    import datetime
    from decimal import Decimal

    from backoffice.plugin_builder.messages import LANGUAGES, MESSAGES, Words
    from backoffice.services.activation import OUTCOMES, Outcome

    samples = {
        "activated": Outcome("activated", amount=Decimal("900"), currency="BDT"),
        "stockpiling": Outcome("stockpiling", accumulated=Decimal("100"), required=Decimal("500"), currency="BDT"),
        "pending": Outcome("pending", expires_at=datetime.datetime(2030, 1, 1)),
    }
    for status in OUTCOMES:
        answer = (samples.get(status) or Outcome(status)).as_json()
        for language in LANGUAGES:
            text = Words(language).text(status)
            for name in re.findall(r"\{(\w+)\}", text):
                assert name in answer, (language, status, name)
    stockpiling = Words("en").text("stockpiling")
    assert all("{" + k + "}" in stockpiling for k in ("accumulated", "remaining", "required"))
    assert "automatically" in Words("en").text("pending")
    for language in LANGUAGES:  # every key in every language (the catalogs: tests/test_plugin_languages.py)
        assert set(Words(language).all()) == set(MESSAGES), language
