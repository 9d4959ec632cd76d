"""Flask-Admin's own words, worded by our catalog first (issue 22, point 5).

Flask-Admin translates its buttons, menus and messages with its own catalog (domain
``admin``). Its Russian is not ours: Title Case ("Добавить Фильтр", "Сброс Фильтров"),
one plural form for every count ("Было удалено %(count)s записей" for 1, 21…), a column
name glued into "Сортировать по Создана", and two messages its compiled file lacks
although its ``.po`` has them ("Failed to create record.", "Failed to save record.",
shown in English).

:func:`install` makes Flask-Admin's translations look in ours first for the msgids of
:data:`WORDING` (Flask-Admin's own msgids, marked here so that extraction keeps them in
our catalogs): where our catalog translates one, that wins, in every language; every
other string stays Flask-Admin's. Nothing else changes: a language our catalog does
not translate a msgid in falls back to Flask-Admin's.
"""
import weakref

from flask_admin import babel as admin_babel
from flask_babel import get_translations as our_translations


def N_(message):  # noqa: N802 - the extractor's name for "mark, do not translate here"
    return message


def ngettext(singular, plural, num):  # a marker too: the extractor reads it as ngettext
    return (singular, plural)


# Flask-Admin's msgids that our catalog words (the same ids, so its templates and code
# need no change); plural ones as (singular, plural).
WORDING = (
    N_("Add Filter"),
    N_("Reset Filters"),
    N_("Sort by %(name)s"),
    N_("Failed to create record."),
    N_("Failed to save record."),
    ngettext("Record was successfully deleted.", "%(count)s records were successfully deleted.", 1),
)


class _Merged:
    """Flask-Admin's translations with ours on top, for the WORDING msgids only."""

    def __init__(self, theirs, ours):
        from babel.support import Translations

        self.translations = merged = Translations()
        merged._catalog = dict(getattr(theirs, "_catalog", {}))
        merged.plural = getattr(theirs, "plural", merged.plural)
        catalog = getattr(ours, "_catalog", {})
        for msgid in WORDING:
            if isinstance(msgid, tuple):
                forms = {key: value for key, value in catalog.items()
                         if isinstance(key, tuple) and key[0] == msgid[0] and value}
                if forms:
                    merged._catalog.update(forms)
                    merged.plural = getattr(ours, "plural", merged.plural)
            elif catalog.get(msgid):
                merged._catalog[msgid] = catalog[msgid]


def install():
    """Flask-Admin's domain looks up :data:`WORDING` in our catalog first (idempotent)."""
    domain = admin_babel.domain
    if getattr(domain, "_backoffice_wording", False):
        return
    original = domain.get_translations
    cache = weakref.WeakKeyDictionary()  # Flask-Admin's translations -> (ours, merged)

    def get_translations():
        theirs = original()
        if not hasattr(theirs, "_catalog"):  # no request, or no catalog at all
            return theirs
        ours = our_translations()
        known = cache.get(theirs)
        if known is None or known[0] is not ours:
            known = cache[theirs] = (ours, _Merged(theirs, ours).translations)
        return known[1]

    domain.get_translations = get_translations
    domain._backoffice_wording = True

