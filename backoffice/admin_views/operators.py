"""Operator-only screens: merchants, users, wallets, payment systems, rates, queues."""
from flask import current_app, request
from flask_admin import expose
from flask_admin.actions import action
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length

from .. import labels
from ..jobs import queue_summary
from ..security import new_api_key, new_postback_secret, new_public_key
from .base import OPERATOR, ScopedModelView, SecureBaseView
from .withdrawals import WithdrawalSchemaField

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
    form_columns = ("code", "name", "currency", "active", "withdrawal_fields")
    # The withdrawal field schema (issue 5): JSON checked against the standard field set.
    form_overrides = {"withdrawal_fields": WithdrawalSchemaField}
    column_labels = {"withdrawal_fields": _l("Withdrawal fields")}


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


class MerchantPaymentSystemView(ScopedModelView):
    """Per merchant and payment system: enabled in the plugin, minimum deposit, commission."""

    role_permissions = {"operator": {"create", "edit", "details"}}
    column_list = ("merchant", "payment_system", "enabled", "min_deposit", "commission_percent", "display_order")
    column_labels = {"min_deposit": _l("Minimum deposit"), "commission_percent": _l("Commission, %")}
    form_columns = ("merchant", "payment_system", "enabled", "min_deposit", "commission_percent", "display_order")

    def on_model_change(self, form, model, is_created):
        from decimal import Decimal

        from wtforms.validators import ValidationError

        if model.min_deposit is None or model.min_deposit < 0:
            raise ValidationError(_l("The minimum deposit must be zero or more."))
        if model.commission_percent is None or not (Decimal(0) <= model.commission_percent <= Decimal(100)):
            raise ValidationError(_l("The commission must be between 0 and 100 %."))


class ConnectorTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    payment_systems = SelectMultipleField(_l("Payment systems it may report for"), validators=[DataRequired()])


class ConnectorTokenView(ScopedModelView):
    """Tokens are stored hashed: a new one is shown once, on the page that issues it."""

    role_permissions = {"operator": {"details"}}
    list_template = "admin/connector_tokens_list.html"
    column_list = ("id", "name", "payment_systems", "active", "created_at", "last_used_at")
    column_details_exclude_list = ("token_hash",)

    @expose("/issue/", methods=("GET", "POST"))
    def issue_view(self):
        from ..models import ConnectorToken, PaymentSystem
        from ..security import new_connector_token, token_digest
        from ..services import audit

        form = ConnectorTokenForm()
        form.payment_systems.choices = [(ps.code, ps.name) for ps in PaymentSystem.select().order_by(PaymentSystem.name)]
        if form.validate_on_submit():
            token = new_connector_token()
            row = ConnectorToken.create(name=form.name.data.strip(), token_hash=token_digest(token),
                                        payment_systems=sorted(form.payment_systems.data))
            audit.record(current_user.id, "connector_token.issue", row,
                         summary={"name": row.name, "payment_systems": row.payment_systems}, ip=request.remote_addr)
            return self.render("admin/connector_token_issued.html", token=token, row=row)
        return self.render("admin/connector_token_issue.html", form=form)

    @action("deactivate", _l("Deactivate"), _l("Deactivate the selected tokens? Connectors using them stop at once."))
    def action_deactivate(self, ids):
        from ..models import ConnectorToken
        from ..services import audit

        for row in ConnectorToken.select().where(ConnectorToken.id.in_(ids) & (ConnectorToken.active == True)):  # noqa: E712
            ConnectorToken.update(active=False).where(ConnectorToken.id == row.id).execute()
            audit.record(current_user.id, "connector_token.deactivate", row, summary={"name": row.name},
                         ip=request.remote_addr)
