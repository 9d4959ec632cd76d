"""The plugin site visitors use: its API, the loader, the page, GIF prompts and
themes (SPEC §5, §6). Served under ``/plugin``.

The rules live in plain functions: ``css`` (own-theme validator), ``gif`` (prompt
checks and re-encoding), ``config`` (what the plugin offers a visitor), ``snippet``
(the install snippet and signature examples), ``messages`` (the page's words).
"""
from flask import Blueprint

from ..api import register_error_handlers
from ..extensions import csrf

bp = Blueprint("plugin", __name__, url_prefix="/plugin")
csrf.exempt(bp)  # public JSON, no cookies: nothing for a CSRF token to protect
register_error_handlers(bp)


def init_app(app):
    from . import api  # noqa: F401 - routes
    from . import config_api  # noqa: F401 - GET /plugin/api/config
    from . import cors  # noqa: F401 - CORS for the allowed origins
    from . import views  # noqa: F401 - loader, page, prompts, own themes

    app.register_blueprint(bp)
