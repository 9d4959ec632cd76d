"""No "None" for people (issue 22, point 9): Python's ``None`` never reaches a screen
as the word "None", in a list cell, a details page, a form's value or an audit entry.
An empty value reads as an empty cell, a dash or a sentence.

The screens are not listed by hand: as an operator and as a merchant's owner, the
walk starts at every GET page of the app's URL map the role may open and follows the
back-office links it renders (lists, details, edit and create forms…), a few URLs per
endpoint, so a screen added later is walked too. The data are the demo's, made through
the services, where many optional fields are empty (a transaction not yet activated,
a withdrawal not yet decided, a user without a time zone…).

What is checked: the visible text (scripts, styles and code samples stripped), the ``value`` of the
form's inputs, and the ``title``, ``placeholder``, ``aria-label`` and ``alt``
attributes.
"""
import re
from html.parser import HTMLParser

import pytest
from markupsafe import Markup
from screen_walk import demo_world, sign_in, walk

SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
# Python's None printed: alone, or in a phrase ("None BDT", "from None to 5"); not the
# English word beginning a phrase ("None sent").
NONE = re.compile(r"\bNone\b(?! [a-z])")
SKIPPED = ("script", "style", "pre", "code")  # code samples hold Python's None on purpose


class Shown(HTMLParser):
    """What a person reads or finds in a field: text outside scripts, styles and code, the
    attributes a browser shows, and the values of inputs (not hidden ones)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.parts += [attrs[name] for name in SHOWN_ATTRIBUTES if attrs.get(name)]
        if tag == "input" and (attrs.get("type") or "text").lower() != "hidden" and attrs.get("value"):
            self.parts.append(attrs["value"])
        if tag in SKIPPED:
            self.skipping += 1

    def handle_endtag(self, tag):
        if tag in SKIPPED and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def nones(page):
    """The lines of the page that show the word "None"."""
    parser = Shown()
    parser.feed(page)
    parser.close()
    return [" ".join(part.split())[:160] for part in parser.parts if NONE.search(part)]


@pytest.fixture
def demo(app, conn):
    return demo_world(app)


@pytest.mark.parametrize("role", ["operator", "merchant_owner"])
def test_no_screen_shows_none(app, client, demo, role):
    sign_in(client, demo[role])
    pages, per_endpoint = walk(app, client, role)
    for endpoint in ("transactions.index_view", "transactions.details_view", "withdrawals.index_view",
                     "withdrawals.details_view", "postbacks.index_view", "postbacks.details_view",
                     "audit_log.index_view", "settings.index"):
        assert per_endpoint[endpoint], f"{endpoint} was not reached as {role}"
    found = {url: lines for url, page in pages.items() if (lines := nones(page))}
    report = "\n".join(f"  {url}: {lines[:4]}" for url, lines in sorted(found.items()))
    assert not found, f"pages showing 'None' as {role} ({len(found)} of {len(pages)}):\n{report}"


def test_the_empty_formatters_say_nothing_for_none(app):
    """The one mechanism: the base view's type formatters for list and details cells,
    the templates' ``finalize`` for every ``{{ … }}``, and the ``blank`` filter."""
    from backoffice.admin_views.base import ScopedModelView

    views = [v for v in app.extensions["backoffice_admin"]._views if isinstance(v, ScopedModelView)]
    assert len(views) > 10
    for view in views:  # every list and details cell of every model screen
        for formatters in (view.column_type_formatters, view.column_type_formatters_detail):
            assert formatters[type(None)](view, None, "x") == "", view.endpoint
    with app.test_request_context():
        assert app.jinja_env.from_string("[{{ n }}][{{ z }}][{{ f }}]").render(n=None, z=0, f=False) == "[][0][False]"
        render = app.jinja_env.from_string("[{{ v|blank }}][{{ w|blank }}][{{ z|blank('—') }}]")
        assert render.render(v=None, w="x", z=None) == "[][x][—]"
        assert render.render(v=Markup("<b>"), w="", z="") == "[<b>][][—]"
