"""Backoffice: the merchant back office and deposit plugin of a P2P-wallet gateway.

``create_app`` is the only way an application is built (web, CLI, workers, tests).
"""
import os

from flask import Flask, redirect, url_for
from flask.json.provider import DefaultJSONProvider
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

from . import admin_views, api, auth, cli, config, db, plugin_builder
from .extensions import babel, csrf, limiter, login_manager
from .i18n import format_datetime, select_locale, select_timezone
from .money import json_number
from .security import apply_security_headers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class JSONProvider(DefaultJSONProvider):
    """Request bodies read JSON numbers with a fraction or an exponent as ``Decimal``,
    never float: 9999999999999999.99 stays exact, and an amount written 1E2 is refused
    (as the API's documentation says) instead of arriving as the float 100.0."""

    def loads(self, s, **kwargs):
        kwargs.setdefault("parse_float", json_number)
        return super().loads(s, **kwargs)


def create_app(test_config=None):
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "BACKOFFICE_INSTANCE_PATH", os.path.join(ROOT, "instance")
    )
    os.makedirs(instance_path, exist_ok=True)
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    app.json = JSONProvider(app)

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
    app.jinja_env.globals["get_locale"] = get_locale

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
