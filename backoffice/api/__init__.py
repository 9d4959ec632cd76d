"""JSON APIs under ``/api/v1``: errors, request validation, bearer tokens, OpenAPI.

``base`` holds what every endpoint shares (the blueprint, ``ApiError``, bearer
tokens); each endpoint module registers its routes on ``base.bp`` and documents them
with ``openapi.document``. Other packages with endpoints under ``/api/v1`` (the
plugin builder's merchant endpoints) bring their own blueprint, registered by the app
factory: this package knows none of them.
"""
from . import balances, connector, events, openapi, transactions, webhooks, withdrawals  # noqa: F401 - their routes
from .base import bp


def init_app(app):
    app.register_blueprint(bp)
