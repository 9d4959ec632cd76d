"""Backoffice: the merchant back office and deposit plugin of a P2P-wallet gateway.

``create_app`` is the only way an application is built (web, CLI, workers, tests).
"""
import os
import re

from flask import Flask, Request, current_app, redirect, url_for
from flask.json.provider import DefaultJSONProvider
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

from . import admin_views, api, auth, cli, config, db, error_pages, plugin_builder, templating
from .api.base import JSONBodyTooDeep, JSONBodyTooLarge
from .extensions import babel, csrf, limiter, login_manager
from .i18n import format_datetime, money_filter, number_filter, select_locale, select_timezone
from .money import json_number
from .security import apply_security_headers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _web_folder(name):
    """``templates`` / ``static``: inside the package when installed from a wheel,
    beside it in a checkout."""
    packaged = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    return packaged if os.path.isdir(packaged) else os.path.join(ROOT, name)


JSON_MAX_DEPTH = 32  # arrays and objects within each other; settings: JSON_MAX_DEPTH
JSON_MAX_BYTES = 64 * 1024  # a JSON request body; settings: JSON_MAX_BYTES
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(data, limit):
    """Whether the JSON text ``data`` nests arrays/objects deeper than ``limit``,
    found by counting brackets outside strings: no parsing, no recursion."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # the common case: too few brackets to be too deep
    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth = max(depth - 1, 0)
    return False


def _config(name, default):
    try:
        return int(current_app.config.get(name, default))
    except RuntimeError:  # no application context
        return default


class JSONProvider(DefaultJSONProvider):
    """Request bodies read JSON numbers with a fraction or an exponent as ``Decimal``,
    never float: 9999999999999999.99 stays exact, and an amount written 1E2 is refused
    (as the API's documentation says) instead of arriving as the float 100.0.

    Nothing deeper than ``JSON_MAX_DEPTH`` is parsed (``JSONBodyTooDeep``, a 400 in
    the API's error shape); with :class:`BoundedRequest`, no body over
    ``JSON_MAX_BYTES`` is even read (``JSONBodyTooLarge``, a 413)."""

    def loads(self, s, **kwargs):
        limit = _config("JSON_MAX_DEPTH", JSON_MAX_DEPTH)
        if json_too_deep(s, limit):
            raise JSONBodyTooDeep(limit)
        kwargs.setdefault("parse_float", json_number)
        return super().loads(s, **kwargs)


class BoundedRequest(Request):
    """``get_json`` (every JSON body the app reads: the APIs' ``Body``, the plugin's
    limiter keys, CORS) refuses a body over ``JSON_MAX_BYTES`` before reading it; the
    provider then bounds its depth before parsing."""

    def get_json(self, force=False, silent=False, cache=True):
        if (force or self.is_json) and not (cache and self._cached_json[silent] is not Ellipsis):
            limit = _config("JSON_MAX_BYTES", JSON_MAX_BYTES)
            if self.content_length is not None and self.content_length > limit:
                raise JSONBodyTooLarge(limit)
            if len(self.get_data(cache=True)) > limit:  # chunked: no length announced
                raise JSONBodyTooLarge(limit)
        return super().get_json(force=force, silent=silent, cache=cache)


def create_app(test_config=None):
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "BACKOFFICE_INSTANCE_PATH", os.path.join(ROOT, "instance")
    )
    os.makedirs(instance_path, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=_web_folder("templates"),
        static_folder=_web_folder("static"),
    )
    app.json = JSONProvider(app)
    app.request_class = BoundedRequest

    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config.from_environment(instance_path))
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = config.instance_secret_key(instance_path)
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        # Shared limits need a shared store: Redis when there is one. The embedded
        # single-machine mode runs one web process, for which memory is exact.
        redis_url = app.config.get("REDIS_URL") or ""
        if redis_url.startswith("unix://"):  # the limits library spells it redis+unix://
            redis_url = "redis+" + redis_url
        app.config["RATELIMIT_STORAGE_URI"] = redis_url or "memory://"

    if app.config.get("PROXY_HOPS"):
        hops = int(app.config["PROXY_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    db.init_app(app)

    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.jinja_env.filters["localtime"] = format_datetime
    # Numbers people read (issue 22, point 3): {{ amount|money(currency) }}, {{ count|number }}.
    app.jinja_env.filters["money"] = money_filter
    app.jinja_env.filters["number"] = number_filter
    app.jinja_env.globals["get_locale"] = get_locale
    # Every page: <html lang> in the viewer's language, no "None" for people (issue 22, point 9).
    templating.init_app(app)
    error_pages.init_app(app)

    app.after_request(apply_security_headers)

    app.register_blueprint(auth.bp)

    api.init_app(app)
    plugin_builder.init_app(app)  # its page, and its merchant endpoints under /api/v1
    admin_views.init_admin(app)

    cli.init_app(app)

    @app.route("/")
    def root():
        return redirect(url_for("admin.index"))

    @app.route("/favicon.ico")
    def favicon():
        # Browsers ask for it on every site; a 404 here is a console error on every page.
        return app.send_static_file("favicon.ico")

    @app.route("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
