"""The plugin page in every language it speaks (SPEC §13: en, ru, bn, hi, ur).

* every word of the plugin (``MESSAGES``' msgids) is in the ru, bn, hi and ur catalogs,
  translated (not empty, not fuzzy), with exactly its ``{placeholder}`` names, and the
  Bengali, Hindi and Urdu ones are written in their own script (English words only from
  a short list of names: UPI, PNG, bKash, …);
* the compiled ``messages.mo`` of bn, hi and ur say what their ``.po`` say;
* ``Words(lang)`` reads those catalogs; Urdu is right to left;
* ``pick_language``: ``data-lang``, else the browser's languages, else the merchant's
  default, else English;
* the plugin page: ``<html lang dir>`` and its title in the chosen language, chosen by
  ``lang``, by ``Accept-Language`` or by the merchant's ``plugin_language``.
"""
import json
import os
import re
import unicodedata
from urllib.parse import urlencode

import pytest
from babel.messages.pofile import read_po
from markupsafe import escape
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

import factories
from backoffice.plugin_builder.messages import LANGUAGES, MESSAGES, RIGHT_TO_LEFT, SCRIPT_KEYS, TRANSLATIONS
from backoffice.plugin_builder.messages import Words, pick_language

TRANSLATED = ("ru", "bn", "hi", "ur")  # every language but the source one
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# Each language's script: (first, last) code points of its Unicode blocks.
SCRIPTS = {
    "ru": [(0x0400, 0x04FF)],  # Cyrillic
    "bn": [(0x0980, 0x09FF)],  # Bengali
    "hi": [(0x0900, 0x097F)],  # Devanagari
    "ur": [(0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)],  # Arabic
}
# Latin words a translation may keep: names of things the visitor sees written so.
LATIN_ALLOWED = {"UPI", "QR", "PNG", "JPEG", "MiB", "bKash", "Nagad"}
SCRIPT_OF = {"ru": "Cyrillic", "bn": "Bengali", "hi": "Devanagari", "ur": "Arabic"}


def po(lang):
    with open(os.path.join(TRANSLATIONS, lang, "LC_MESSAGES", "messages.po"), "rb") as fh:
        return read_po(fh, locale=lang)


def forms(value):
    """A message's id or string as a tuple (a plural message has several)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


PLUGIN_IDS = sorted(set(MESSAGES.values()))


def in_script(char, lang):
    return any(first <= ord(char) <= last for first, last in SCRIPTS[lang])


def script_faults(text, lang):
    """What in ``text`` is not written in ``lang``'s script (placeholders aside)."""
    bare = PLACEHOLDER.sub(" ", text)
    letters = [c for c in bare if unicodedata.category(c).startswith("L")]
    faults = []
    if not any(in_script(c, lang) for c in letters):
        faults.append(f"no {SCRIPT_OF[lang]} letter")
    faults += [f"English word {w!r}" for w in re.findall(r"[A-Za-z]+", bare) if w not in LATIN_ALLOWED]
    faults += [f"letter {c!r} (U+{ord(c):04X}) of another script" for c in letters
               if not c.isascii() and not in_script(c, lang)]
    return faults


# ---- the catalogs ------------------------------------------------------------------

def test_the_plugin_has_words_to_translate():
    assert len(PLUGIN_IDS) > 70
    assert set(SCRIPT_KEYS) <= set(MESSAGES)
    assert set(TRANSLATED) == set(LANGUAGES) - {"en"}


def test_every_plugin_word_is_in_the_english_catalog():
    en = po("en")
    assert not [i for i in PLUGIN_IDS if i not in en], "run the commands of README 'Languages'"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_plugin_word_is_translated(lang):
    catalog = po(lang)
    missing = [i for i in PLUGIN_IDS if i not in catalog]
    assert not missing, f"not in the {lang} catalog: {missing}"
    untranslated = [i for i in PLUGIN_IDS if not all(forms(catalog[i].string)) or catalog[i].fuzzy]
    assert not untranslated, f"untranslated or fuzzy in {lang} ({len(untranslated)}): {untranslated}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_their_placeholders(lang):
    """Exactly the English text's ``{names}`` (``Words`` and the page's script fill them
    by name: a translated name would be shown as is), and no other brace."""
    catalog = po(lang)
    faults = []
    for msgid in PLUGIN_IDS:
        message = catalog.get(msgid)
        if message is None or not message.string:
            continue  # the test above names it
        text = forms(message.string)[0]
        if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(msgid)):
            faults.append((msgid, text))
        elif "{" in PLACEHOLDER.sub("", text) or "}" in PLACEHOLDER.sub("", text):
            faults.append((msgid, text))
    assert not faults, faults


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_are_written_in_the_languages_script(lang):
    catalog = po(lang)
    faults = {}
    for msgid in PLUGIN_IDS:
        message = catalog.get(msgid)
        if message is None or not message.string:
            continue  # named by test_every_plugin_word_is_translated
        found = script_faults(forms(message.string)[0], lang)
        if found:
            faults[msgid] = found
    assert not faults, faults


def test_the_script_check_tells_one_script_from_another():
    assert script_faults("জমা {amount} {currency}", "bn") == []
    assert script_faults("UPI ऐप से भुगतान करें", "hi") == []
    assert script_faults("ادائیگی bKash سے", "ur") == []
    assert script_faults("Deposit", "bn") == ["no Bengali letter", "English word 'Deposit'"]
    assert script_faults("जमा राशि", "bn")[0] == "no Bengali letter"
    assert script_faults("জমা করুন app", "bn") == ["English word 'app'"]
    assert script_faults("{amount}", "ur") == ["no Arabic letter"]


# ---- Words ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_words_read_the_catalog(lang):
    catalog = po(lang)
    words = Words(lang)
    assert words.language == lang
    assert set(words.all()) == set(MESSAGES)
    for key, msgid in MESSAGES.items():
        message = catalog.get(msgid)
        wanted = message.string if message is not None and message.string and not message.fuzzy else msgid
        assert words.text(key) == wanted, (lang, key)
        assert words.all()[key] == wanted
    assert words.script_messages() == {key: words.text(key) for key in SCRIPT_KEYS}
    filled = words("min_deposit", amount="500.00", currency="BDT")
    assert "500.00" in filled and "BDT" in filled and "{" not in filled


@pytest.mark.parametrize("lang", TRANSLATED)
def test_words_are_not_english(lang):
    words, english = Words(lang), Words("en")
    same = [key for key in MESSAGES if words.text(key) == english.text(key)]
    assert not same, f"{lang} says these in English: {same}"


def test_urdu_is_right_to_left():
    assert RIGHT_TO_LEFT == {"ur"}
    assert {lang: Words(lang).direction for lang in LANGUAGES} == {
        "en": "ltr", "ru": "ltr", "bn": "ltr", "hi": "ltr", "ur": "rtl"}


def test_an_unknown_language_is_english():
    for unknown in ("xx", "", None):
        words = Words(unknown)
        assert words.language == "en" and words.direction == "ltr" and words("title") == "Deposit"


# ---- pick_language -------------------------------------------------------------------

def accept(header):
    return parse_accept_header(header, LanguageAccept)


@pytest.mark.parametrize("requested, wanted", [
    ("ur", "ur"), ("UR", "ur"), ("hi-IN", "hi"), ("bn_BD", "bn"), (" ru ", "ru"), ("en", "en")])
def test_data_lang_wins(requested, wanted):
    assert pick_language(requested, accept("de, en;q=0.5"), default="bn") == wanted
    assert pick_language(requested) == wanted


@pytest.mark.parametrize("header, wanted", [
    ("hi-IN,hi;q=0.9", "hi"),
    ("hi-IN", "hi"),
    ("bn", "bn"),
    ("fr, bn;q=0.3", "bn"),
    ("de, en;q=0.5", "en"),
    ("en-US,en;q=0.9,ru;q=0.8", "en"),
    ("ru-RU,ru;q=0.9,en;q=0.5", "ru"),
    # A browser in Pakistan or Bangladesh lists its own language first, English next:
    # the visitor reads Urdu / Bengali first.
    ("ur-PK,en-US;q=0.9,en;q=0.8", "ur"),
    ("bn-BD,en-US;q=0.9,en;q=0.8", "bn"),
])
def test_else_the_browsers_best_match(header, wanted):
    assert pick_language(None, accept(header), default="ru") == wanted
    assert pick_language("xx", accept(header), default="ru") == wanted  # an unknown data-lang falls through


@pytest.mark.parametrize("header", ["", "de", "fr-FR,de;q=0.5"])
def test_else_the_merchants_default_else_english(header):
    assert pick_language(None, accept(header), default="bn") == "bn"
    assert pick_language("xx", accept(header), default="ur") == "ur"
    assert pick_language(None, accept(header)) == "en"
    assert pick_language(None, accept(header), default="xx") == "en"  # a default we do not speak
    assert pick_language(None, None, default="hi") == "hi"
    assert pick_language(None) == "en"


# ---- the page ------------------------------------------------------------------------

@pytest.fixture
def shop(app, conn):
    """A merchant with a payment system and a wallet (as plugin_support.plugin_shop)."""
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    merchant = factories.merchant(name="Shop", allowed_origins=["https://shop.example"])
    factories.merchant_payment_system(merchant, bkash, min_deposit="500.00")
    factories.wallet(merchant, bkash, number="01710000000")
    return merchant


def page(client, merchant, headers=None, **params):
    query = dict(merchant=merchant.public_key, label="L")
    query.update(params)
    response = client.get("/plugin/v1/page?" + urlencode(query), headers=headers or {})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def html_tag(text):
    return re.search(r"<html\b[^>]*>", text).group(0)


def title_of(text):
    return re.search(r"<title>(.*?)</title>", text, re.S).group(1).strip()


def settings_of(text):
    match = re.search(r'<script type="application/json" id="bo-settings">(.*?)</script>', text, re.S)
    return json.loads(match.group(1))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_speaks_the_language_asked_for(client, shop, lang):
    words = Words(lang)
    text = page(client, shop, lang=lang)
    assert html_tag(text) == f'<html lang="{lang}" dir="{words.direction}">'
    assert title_of(text) == str(escape(words("title")))
    settings = settings_of(text)
    assert settings["messages"] == words.script_messages()
    assert settings["title"] == words("title")


def test_an_urdu_page_is_right_to_left_and_titled_in_urdu(client, shop):
    text = page(client, shop, lang="ur", headers={"Accept-Language": "hi"})
    assert '<html lang="ur" dir="rtl">' in text
    title = title_of(text)
    assert title == str(escape(Words("ur")("title")))
    assert script_faults(title, "ur") == [], title


def test_the_browsers_language_when_the_page_asks_for_none(client, shop):
    text = page(client, shop, headers={"Accept-Language": "hi-IN,hi;q=0.9"})
    assert '<html lang="hi" dir="ltr">' in text
    assert title_of(text) == str(escape(Words("hi")("title")))
    assert script_faults(title_of(text), "hi") == []


def test_the_merchants_language_when_neither_says(client, shop):
    assert shop.plugin_language == "en"  # (the model's default)
    assert '<html lang="en" dir="ltr">' in page(client, shop)
    shop.plugin_language = "bn"
    shop.save()
    text = page(client, shop)
    assert '<html lang="bn" dir="ltr">' in text
    assert title_of(text) == str(escape(Words("bn")("title")))
    assert '<html lang="bn"' in page(client, shop, headers={"Accept-Language": "de"})  # none we speak
    assert '<html lang="bn"' in page(client, shop, lang="xx")  # nor this one
    # but the visitor's own choices still come first
    assert '<html lang="hi"' in page(client, shop, headers={"Accept-Language": "hi-IN,hi;q=0.9"})
    assert '<html lang="ur"' in page(client, shop, lang="ur", headers={"Accept-Language": "hi"})
