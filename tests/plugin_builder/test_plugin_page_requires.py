"""The plugin page asks only for what the merchant's matching policy needs (SPEC §11):
the last 4 digits of the sender's wallet and/or the amount paid, each with its label,
help and error note, in the page's language; nothing when the policy needs neither."""
import json
import re
from urllib.parse import urlencode

import pytest

from plugin_support import plugin_shop  # noqa: F401 - fixture

from backoffice.models import MatchingPolicy
from backoffice.plugin_builder.messages import LANGUAGES, MESSAGES, SCRIPT_KEYS, Words

EN, RU = Words("en"), Words("ru")


def page(client, merchant, **params):
    query = dict(merchant=merchant.public_key, label="visitor-1")
    query.update(params)
    response = client.get("/plugin/v1/page?" + urlencode(query))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def settings_of(text):
    match = re.search(r'<script type="application/json" id="bo-settings">(.*?)</script>', text, re.S)
    assert match, "no settings block"
    return json.loads(match.group(1))


def input_tag(text, testid):
    """The ``<input …>`` tag with that data-testid (None when the page has none)."""
    match = re.search(r'<input\b[^>]*data-testid="' + testid + r'"[^>]*>', text, re.S)
    return match.group(0) if match else None


def policy(merchant=None, sender=False, amount=False):
    # (the money limits spelt out: MoneyField's default would be 0.00, "review every deposit")
    return MatchingPolicy.create(merchant=merchant, require_sender=sender, require_amount=amount,
                                 review_above=None, review_first_above=None)


def test_sender_digits_only_when_the_policy_requires_them(client, plugin_shop):
    merchant = plugin_shop["merchant"]
    policy(merchant, sender=True)
    text = page(client, merchant, lang="en")
    tag = input_tag(text, "sender")
    assert tag is not None
    for attribute in ('id="bo-sender"', 'name="sender_last4"', 'type="text"', 'inputmode="numeric"',
                      'pattern="[0-9]{4}"', 'maxlength="4"', 'autocomplete="off"',
                      'aria-describedby="bo-sender-help bo-sender-error"'):
        assert attribute in tag, attribute
    assert f'<label for="bo-sender" class="bo-label">{EN("sender_label")}</label>' in text
    assert f'<p id="bo-sender-help" class="bo-help">{EN("sender_help")}</p>' in text
    assert re.search(r'<p id="bo-sender-error"[^>]*\bhidden\b', text)  # empty until a fault
    assert input_tag(text, "amount") is None and "bo-amount" not in text
    assert settings_of(text)["requires"] == ["sender_last4"]
    # the fields sit in the form, before the submit button (step 3)
    assert text.index('data-testid="number"') < text.index('data-testid="sender"') < text.index(
        'data-testid="submit"')


def test_amount_only_when_the_policy_requires_it(client, plugin_shop):
    merchant = plugin_shop["merchant"]
    policy(merchant, amount=True)
    text = page(client, merchant, lang="en")
    tag = input_tag(text, "amount")
    assert tag is not None
    for attribute in ('id="bo-amount"', 'name="amount"', 'inputmode="decimal"', 'autocomplete="off"',
                      'aria-describedby="bo-amount-help bo-amount-error"'):
        assert attribute in tag, attribute
    assert f'<label for="bo-amount" class="bo-label">{EN("amount_label")}</label>' in text
    assert EN("amount_help") in text
    assert input_tag(text, "sender") is None and "bo-sender" not in text
    assert settings_of(text)["requires"] == ["amount"]


def test_both_fields_in_russian(client, plugin_shop):
    merchant = plugin_shop["merchant"]
    policy(merchant, sender=True, amount=True)
    text = page(client, merchant, lang="ru")
    assert input_tag(text, "sender") and input_tag(text, "amount")
    assert "Последние 4 цифры кошелька, с которого вы платили" in text
    assert RU("amount_label") in text and RU("sender_help") in text
    assert EN("sender_label") not in text
    settings = settings_of(text)
    assert settings["requires"] == ["sender_last4", "amount"]
    assert settings["messages"]["sender_invalid"] == RU("sender_invalid")
    assert text.index('data-testid="sender"') < text.index('data-testid="amount"')


def test_nothing_asked_when_the_policy_needs_neither(client, plugin_shop):
    merchant = plugin_shop["merchant"]
    policy(None, sender=True, amount=True)  # the default asks for both: the merchant's own row does not
    policy(merchant)
    text = page(client, merchant)
    assert input_tag(text, "sender") is None and input_tag(text, "amount") is None
    assert "bo-field" not in text and EN("sender_label") not in text
    assert settings_of(text)["requires"] == []
    assert input_tag(text, "number") is not None  # the transaction number is always asked


@pytest.mark.parametrize("sender", [True, False])
def test_a_merchant_without_its_own_row_follows_the_default(client, plugin_shop, sender):
    policy(None, sender=sender)
    text = page(client, plugin_shop["merchant"])
    assert (input_tag(text, "sender") is not None) is sender
    assert input_tag(text, "amount") is None
    other = page(client, plugin_shop["other"])  # another merchant with no row: the same default
    assert (input_tag(other, "sender") is not None) is sender


def test_error_pages_render_without_a_policy(client, plugin_shop):
    response = client.get("/plugin/v1/page?merchant=pk_nobody&label=x&lang=ru")
    assert response.status_code == 404 and 'data-testid="sender"' not in response.get_data(as_text=True)


def test_the_new_words_exist_in_every_language():
    keys = ("sender_label", "sender_help", "sender_invalid", "amount_label", "amount_help", "amount_invalid",
            "form_changed")
    for language in LANGUAGES:
        for key in keys:
            assert Words(language).text(key), (language, key)
    assert set(keys) <= set(MESSAGES)
    assert {"sender_invalid", "amount_invalid", "form_changed"} <= set(SCRIPT_KEYS)
    # Russian is Russian, not English left untranslated
    for key in keys:
        assert RU(key) != EN(key)
        assert re.search("[а-яё]", RU(key), re.I), key
