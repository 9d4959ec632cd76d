"""The plugin site visitors use: its API (and, with the plugin issue, themes, GIF
prompts, the snippet, the loader and the page). Served under ``/plugin``."""
from flask import Blueprint

from ..api import register_error_handlers
from ..extensions import csrf

bp = Blueprint("plugin", __name__, url_prefix="/plugin")
csrf.exempt(bp)  # public JSON, no cookies: nothing for a CSRF token to protect
register_error_handlers(bp)


def init_app(app):
    from . import api  # noqa: F401 - routes

    app.register_blueprint(bp)
