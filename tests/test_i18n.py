"""Languages (issue 7): complete catalogs, compiled files up to date, Russian pages.

* every string our code and templates mark for translation is in the Russian and
  English catalogs, and translated in the Russian one (``pybabel extract`` with
  ``babel.cfg`` into a temporary file, compared with ``messages.po``);
* the committed ``messages.mo`` files say what the ``.po`` files say;
* key pages rendered for a Russian-speaking user contain none of our English strings;
* the plugin page follows ``data-lang``, else ``Accept-Language``.
"""
import os
import re
import subprocess
import sys

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from helpers import login

import factories
from backoffice import ROOT
from backoffice.models import User

TRANSLATIONS = os.path.join(ROOT, "backoffice", "translations")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def forms(value):
    """A message's id or string as a tuple (a plural message has several)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def po(lang):
    with open(os.path.join(TRANSLATIONS, lang, "LC_MESSAGES", "messages.po"), "rb") as fh:
        return read_po(fh, locale=lang)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    pybabel = os.path.join(os.path.dirname(sys.executable), "pybabel")
    subprocess.run([pybabel, "-q", "extract", "-F", os.path.join(ROOT, "babel.cfg"), "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(pot), ROOT], check=True, cwd=ROOT)
    with open(pot, "rb") as fh:
        return read_po(fh)


def test_every_string_we_mark_is_in_both_catalogs_and_translated_to_russian(extracted):
    wanted = {m.id for m in extracted if m.id}
    assert len(wanted) > 300
    ru, en = po("ru"), po("en")
    missing = sorted(str(i) for i in wanted if i not in ru)
    assert not missing, f"not in the Russian catalog (run the commands of README 'Languages'): {missing}"
    assert not sorted(str(i) for i in wanted if i not in en)
    # English is the source language: its catalog lists every msgid with an empty msgstr.
    assert not [m.id for m in en if m.id and any(forms(m.string))], "the English catalog has translations"
    untranslated = sorted(str(m.id) for m in ru if m.id and (not all(forms(m.string)) or m.fuzzy))
    assert not untranslated, f"untranslated or fuzzy in Russian: {untranslated}"


def test_translations_keep_their_placeholders():
    """Each form keeps the (last) id's placeholders: a plural's every Russian form names
    the number, since one form serves 1, 21, 31, …"""
    for message in po("ru"):
        if message.id:
            wanted = sorted(PLACEHOLDER.findall(forms(message.id)[-1]))
            for form in forms(message.string):
                assert sorted(PLACEHOLDER.findall(form)) == wanted, message.id


@pytest.mark.parametrize("lang", ["en", "ru", "bn", "hi", "ur"])
def test_compiled_catalogs_are_up_to_date(lang):
    assert not po(lang).fuzzy, "a fuzzy header: pybabel compile would skip the catalog"
    # (An untranslated plural is compiled with its ids as its forms: the same as none.)
    source = {forms(m.id): forms(m.string) for m in po(lang)
              if m.id and any(forms(m.string)) and not m.fuzzy and forms(m.string) != forms(m.id)}
    with open(os.path.join(TRANSLATIONS, lang, "LC_MESSAGES", "messages.mo"), "rb") as fh:
        compiled = {forms(m.id): forms(m.string) for m in read_mo(fh) if m.id and forms(m.string) != forms(m.id)}
    assert compiled == source, "messages.mo is stale: run pybabel compile -d backoffice/translations"


# --- Russian pages -------------------------------------------------------------------

def flask_admin_catalog(lang="ru"):
    """Flask-Admin's own catalog (domain ``admin``), the one its views translate with."""
    import flask_admin.translations

    path = os.path.join(flask_admin.translations.__path__[0], lang, "LC_MESSAGES", "admin.po")
    with open(path, "rb") as fh:
        return read_po(fh, locale=lang)


def test_flask_admins_own_strings_are_all_translated_to_russian(tmp_path):
    """Every string Flask-Admin's code and templates mark is in its Russian catalog, and
    translated: the back office is complete in Russian, Flask-Admin's words included
    (the Russian pages below must show none of them in English)."""
    import flask_admin

    folder = os.path.dirname(flask_admin.__file__)
    config = tmp_path / "admin.cfg"
    config.write_text("[python: **.py]\n[jinja2: **/templates/**.html]\n")
    pot = tmp_path / "admin.pot"
    pybabel = os.path.join(os.path.dirname(sys.executable), "pybabel")
    subprocess.run([pybabel, "-q", "extract", "-F", str(config), "-k", "_gettext", "-k", "_ngettext:1,2", "-k",
                    "_lazy_gettext", "-k", "gettext", "-k", "lazy_gettext", "-o", str(pot), folder],
                   check=True, capture_output=True)
    with open(pot, "rb") as fh:
        marked = {forms(m.id)[0] for m in read_po(fh) if m.id}
    assert len(marked) > 100
    catalog = {forms(m.id)[0]: m for m in flask_admin_catalog() if m.id}
    missing = sorted(i for i in marked if i not in catalog or not all(forms(catalog[i].string))
                     or catalog[i].fuzzy)
    assert not missing, f"Flask-Admin strings without Russian: {missing}"


def english_phrases():
    """Our English strings, and Flask-Admin's, that a Russian page must not show
    (phrases, not single words such as "ID" or "API" that read the same in both)."""
    out = set()
    for message in list(po("ru")) + list(flask_admin_catalog()):
        for text in forms(message.id) if message.id else ():
            if " " in text and text not in forms(message.string) and len(text) > 6:
                for part in PLACEHOLDER.split(text):  # the fixed text around placeholders
                    part = part.strip(" :.,()\"")
                    if " " in part and len(part) > 8:
                        out.add(part)
    return out


def visible_text(html):
    html = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html, flags=re.S)
    html = re.sub(r"<[^>]+>", " ", html)
    import html as htmllib

    return " ".join(htmllib.unescape(html).split())


@pytest.fixture
def russian(conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Shop", timezone="Asia/Dhaka")
    factories.merchant_payment_system(m, ps)
    w = factories.wallet(m, ps)
    factories.transaction(w)
    factories.withdrawal(m, ps)
    users = dict(owner=factories.user("merchant_owner", m, language="ru"),
                 staff=factories.user("merchant_staff", m, language="ru"),
                 operator=factories.user("operator", language="ru"))
    return dict(m=m, **users)


OWNER_PAGES = ["/admin/", "/admin/transactions/", "/admin/withdrawals/", "/admin/withdrawals/new/",
               "/admin/settings/", "/admin/settings/system/", "/admin/audit_log/", "/admin/postbacks/",
               "/admin/postbacks/docs/", "/admin/plugin-appearance/", "/admin/plugin-installation/"]
OPERATOR_PAGES = ["/admin/merchants/", "/admin/users/", "/admin/users/add/", "/admin/connector_tokens/",
                  "/admin/connector_tokens/issue/", "/admin/jobs/", "/admin/settings/system/", "/admin/wallets/",
                  "/admin/payment_systems/", "/admin/exchange_rates/", "/admin/pending_activations/",
                  "/admin/merchant_payment_systems/", "/admin/transactions/", "/admin/postbacks/",
                  "/admin/audit_log/", "/admin/withdrawals/"]


def auto_headings():
    """The English headings Flask-Admin makes up for a column without a label."""
    from backoffice.models import ALL_MODELS

    return {name.replace("_", " ").title() for model in ALL_MODELS for name in model._meta.fields if "_" in name}


def check_russian(client, url, phrases):
    phrases = set(phrases) | auto_headings()
    response = client.get(url)
    assert response.status_code == 200, url
    text = visible_text(response.get_data(as_text=True))
    assert re.search("[а-яА-Я]", text), url
    leftovers = sorted(p for p in phrases if p in text)
    assert not leftovers, f"{url} shows English: {leftovers}"


def test_russian_pages_show_no_english_strings_of_ours(client, russian):
    phrases = english_phrases()
    assert "Change password" in phrases
    login(client, russian["owner"])
    for url in OWNER_PAGES:
        check_russian(client, url, phrases)


def test_russian_operator_pages(client, russian):
    phrases = english_phrases()
    login(client, russian["operator"])
    for url in OPERATOR_PAGES + [f"/admin/settings/system/?merchant={russian['m'].id}"]:
        check_russian(client, url, phrases)


def test_the_same_pages_in_english_do_show_the_english_strings(client, russian):
    User.update(language="en").where(User.id == russian["owner"].id).execute()
    login(client, russian["owner"])
    text = visible_text(client.get("/admin/settings/").get_data(as_text=True))
    assert "Change password" in text and "Сменить пароль" not in text


def test_sign_in_page_follows_accept_language(client, conn):
    page = client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert 'lang="ru"' in page and "Войти" in page
    page = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="en"' in page and "Sign in" in page


def test_plugin_page_follows_data_lang_then_accept_language(client, russian):
    m = russian["m"]
    url = f"/plugin/v1/page?merchant={m.public_key}&label=visitor"
    page = client.get(url, headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert '<html lang="ru" dir="ltr">' in page
    page = client.get(url + "&lang=en", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page
    page = client.get(url, headers={"Accept-Language": "de, en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page
