"""Operator-only screens: merchants, users, wallets, payment systems, rates, queues."""
from flask import current_app
from flask_admin import expose
from flask_babel import lazy_gettext as _l

from .. import labels
from ..jobs import queue_summary
from ..security import new_api_key, new_postback_secret, new_public_key
from .base import OPERATOR, ScopedModelView, SecureBaseView

SECRETS_HIDDEN = ("api_key", "postback_secret", "own_css")


class MerchantView(ScopedModelView):
    # Merchants are disabled, never deleted: their money records must stay.
    role_permissions = {"operator": {"create", "edit", "details", "export"}}
    column_list = ("id", "name", "public_key", "timezone", "delayed_activation", "active", "created_at")
    column_details_exclude_list = SECRETS_HIDDEN
    column_export_exclude_list = SECRETS_HIDDEN
    column_searchable_list = ("name", "public_key")
    form_columns = (
        "name", "timezone", "postback_url", "after_payment", "after_payment_url",
        "require_signed_labels", "theme", "delayed_activation", "pending_activation_ttl",
        "default_display_currency", "active",
    )

    def on_model_change(self, form, model, is_created):
        if is_created:
            model.public_key = new_public_key()
            model.api_key = new_api_key()
            model.postback_secret = new_postback_secret()


class UserView(ScopedModelView):
    """Users are created with ``backoffice create-user`` (operator management: settings issue)."""

    role_permissions = {"operator": {"edit", "details"}}
    column_list = ("id", "login", "role", "merchant", "language", "active", "last_login_at", "locked_until")
    column_details_exclude_list = ("password_hash", "session_token", "totp_secret", "totp_last_step")
    column_searchable_list = ("login",)
    column_formatters = {"role": labels.formatter(labels.ROLE, "role")}
    form_columns = ("language", "timezone", "active")


class WalletView(ScopedModelView):
    role_permissions = {"operator": {"create", "edit", "details", "export"}}
    column_list = ("id", "merchant", "payment_system", "identifier", "number", "active", "created_at")
    column_searchable_list = ("identifier", "number")
    form_columns = ("merchant", "payment_system", "identifier", "number", "active")


class PaymentSystemView(ScopedModelView):
    role_permissions = {"operator": {"create", "edit", "details"}}
    column_list = ("id", "code", "name", "currency", "active")
    form_columns = ("code", "name", "currency", "active")


class ExchangeRateView(ScopedModelView):
    column_list = ("currency", "rate_to_usd", "effective_date")
    column_default_sort = ("effective_date", True)


class PendingActivationView(ScopedModelView):
    role_permissions = {"operator": {"details", "export"}}
    column_default_sort = ("id", True)


class AuditLogView(ScopedModelView):
    role_permissions = {"operator": {"details", "export"}}
    column_default_sort = ("id", True)
    column_list = ("created_at", "user", "merchant", "action", "object_type", "object_id", "ip")


class JobsView(SecureBaseView):
    allowed_roles = OPERATOR

    @expose("/")
    def index(self):
        return self.render("admin/jobs.html", queues=queue_summary(current_app.config))
