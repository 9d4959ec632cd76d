"""Error pages people read (issue 22, point 9): a 403, 404, 405, 429, an expired form…
of the back office and the sign-in pages is a page in the viewer's language (``<html
lang>`` included) with a sentence saying what happened and a way on, not Werkzeug's
English page.

The JSON APIs (``/api/``) answer their errors in their own shape (``api.base``), and
the plugin (``/plugin/``) is a visitor's page with its own words: both are left alone.
"""
from flask import render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

NOT_OURS = ("/api/", "/plugin/")

PAGES = {
    400: (_l("The request could not be understood"),
          _l("Go back, reload the page and try again.")),
    403: (_l("This page is not open to you"),
          _l("Your role does not give access to it. If you need it, ask an operator.")),
    404: (_l("Page not found"),
          _l("The address may be mistyped, or what it showed no longer exists.")),
    405: (_l("This page cannot be opened this way"),
          _l("Open it from the menu or from a link instead.")),
    413: (_l("What was sent is too large"),
          _l("Send a smaller file or less text.")),
    429: (_l("Too many attempts"),
          _l("Wait a little, then try again.")),
    500: (_l("Something went wrong on our side"),
          _l("Nothing you did caused it. Try again in a moment; if it goes on, tell an operator.")),
}
EXPIRED_FORM = (_l("The form has expired"),
                _l("Go back, reload the page and send the form again."))
OTHER = (_l("The page could not be shown"), _l("Go back and try again."))


def _page(exc):
    if isinstance(exc, CSRFError):
        return EXPIRED_FORM
    return PAGES.get(exc.code, OTHER)


def handle_http_error(exc):
    if exc.code is None or exc.code < 400 or request.path.startswith(NOT_OURS):
        return exc
    title, advice = _page(exc)
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    try:
        body = render_template("error.html", code=exc.code, title=title, advice=advice)
    except Exception:  # noqa: BLE001 - an error page must not fail: Werkzeug's plain page then
        return exc
    return body, exc.code, headers


def init_app(app):
    app.register_error_handler(HTTPException, handle_http_error)
