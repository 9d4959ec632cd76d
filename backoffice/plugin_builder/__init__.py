"""The plugin site visitors use: its API, the loader, the page, GIF prompts and
themes (SPEC §5, §6). Served under ``/plugin``; the merchant endpoints for the
plugin's appearance (``merchant_api``) sit under ``/api/v1`` on a blueprint of
their own, which the app factory registers through :func:`init_app`.

The rules live in plain functions: ``css`` (own-theme validator), ``gif`` (prompt
checks and re-encoding), ``config`` (what the plugin offers a visitor), ``snippet``
(the install snippet and signature examples), ``messages`` (the page's words).
"""
from . import api, appeals_api, config_api, cors, merchant_api, origin_api, views  # noqa: F401 - their routes
from .blueprint import bp, merchant_api_bp


def init_app(app):
    app.register_blueprint(bp)
    app.register_blueprint(merchant_api_bp)
