"""Operator-only screens: merchants, users, wallets, payment systems, rates, queues."""
import json

from flask import current_app, flash, g, has_request_context, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import BooleanEqualFilter, FilterEqual, FilterLike
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from peewee import JOIN
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from .. import labels
from ..i18n import format_number, language_choices
from ..queues import queue_summary
from ..models import AuditLog, ConnectorToken, Merchant, MerchantPaymentSystem, PaymentSystem, PendingActivation, User
from ..security import generate_password
from ..services import connectors
from ..services import merchants as service
from ..services.checks import SettingsError
from ..services.merchants import RESET_TTL
from . import audit_sentences
from .auditing import AuditedViewMixin
from .identity import actor_formatter, address_formatter
from . import badges
from .base import (LiveChoices, MerchantFilter, ScopedModelView, SecureBaseView, form_errors, is_operator,
                   payment_system_choices, scope_query)
from .timezones import date_filters
from .zone_names import zone_choices
from .withdrawals import WithdrawalSchemaField, schema_words

# Secrets and internals a details page never shows (the plugin secret is shown once, when
# rotated; issue 22 found it on the merchant's details page).
SECRETS_HIDDEN = ("api_key", "own_css", "plugin_secret", "plugin_secret_previous")

# Column headings of the operator screens, translated (Flask-Admin would show the
# English field names otherwise).
COMMON_LABELS = {
    "id": _l("ID"), "merchant": _l("Merchant"), "payment_system": _l("Payment system"),
    "payment_systems": _l("Payment systems"), "identifier": _l("Wallet identifier"), "number": _l("Wallet number"),
    "active": _l("Active"), "created_at": _l("Created"), "code": _l("Code"), "name": _l("Name"),
    "currency": _l("Currency"), "rate_to_usd": _l("Rate to USD"), "effective_date": _l("Effective date"),
    "transaction_number": _l("Transaction number"), "label": _l("Label"), "order_id": _l("Order ID"),
    "expires_at": _l("Expires"), "status": _l("Status"), "last_used_at": _l("Last used"),
    "withdrawal_fields": _l("Withdrawal fields"), "enabled": _l("Enabled in the plugin"),
    "min_deposit": _l("Minimum deposit"), "commission_percent": _l("Commission, %"),
    "display_order": _l("Display order"),
    "sender_last4": _l("Sender's last 4 digits"), "amount": _l("Amount stated"), "network": _l("Visitor's network"),
}


def _tz_choices():
    """Each zone as people read it (``zone_names``), the edited merchant's among them."""
    current = None
    raw = request.args.get("id", "") if has_request_context() else ""
    if raw.isdigit():
        merchant = Merchant.get_or_none(Merchant.id == int(raw))
        current = merchant.timezone if merchant is not None else None
    return zone_choices(current)


def _live(loader):
    return LiveChoices(loader)


def _merchant_link(merchant):
    """The merchant's name, linking to its system settings (delayed activation, keys, …)."""
    return Markup('<a href="%s">%s</a>') % (url_for("settings.system", merchant=merchant.id), escape(merchant.name))


class MerchantView(ScopedModelView):
    """Merchants: created here, disabled or enabled by action, never deleted (their money
    records stay). The system settings (origins, delayed activation, …) are edited
    on Settings → System, the webhook endpoints on Settings → Webhooks; both validate
    them and every change is audited.
    Creating and editing go through ``services.merchants`` (keys, checks, audit)."""

    list_template = "admin/merchants_list.html"
    column_list = ("id", "name", "public_key", "timezone", "delayed_activation", "active", "created_at")
    column_details_exclude_list = SECRETS_HIDDEN
    column_export_exclude_list = SECRETS_HIDDEN
    column_searchable_list = ("name", "public_key")
    column_formatters = {"name": lambda v, c, m, n: _merchant_link(m)}
    column_formatters_export = {"name": lambda v, c, m, n: m.name}  # the name itself, not the link
    column_labels = {"name": _l("Name"), "public_key": _l("Public key"), "timezone": _l("Time zone"),
                     "delayed_activation": _l("Delayed activation"), "active": _l("Active"),
                     "created_at": _l("Created"), "default_display_currency": _l("Default display currency")}
    form_columns = service.MERCHANT_FIELDS
    form_choices = {"timezone": _live(_tz_choices)}

    def _form_values(self, form):
        return {name: form[name].data for name in service.MERCHANT_FIELDS}

    def create_model(self, form):
        try:
            return service.create_merchant(actor=current_user.id, ip=request.remote_addr, **self._form_values(form))
        except SettingsError as exc:
            form_errors(form, exc)
            return False

    def update_model(self, form, model):
        try:
            service.edit_merchant(model, current_user.id, ip=request.remote_addr, **self._form_values(form))
        except SettingsError as exc:
            form_errors(form, exc)
            return False
        return True

    def _set_active(self, ids, active):
        n = sum(service.set_merchant_active(m, active, current_user.id, ip=request.remote_addr)
                for m in Merchant.select().where(Merchant.id.in_(ids)))
        flash(_("%(n)d merchants changed.", n=n), "success")

    @action("disable", _l("Disable"), _l("Disable the selected merchants? Their plugin, API and users stop at once; "
                                          "their data stays."))
    def action_disable(self, ids):
        self._set_active(ids, False)

    @action("enable", _l("Enable"), _l("Enable the selected merchants again?"))
    def action_enable(self, ids):
        self._set_active(ids, True)


class MerchantUserForm(FlaskForm):
    merchant = SelectField(_l("Merchant"), coerce=int, validators=[DataRequired()])
    login = StringField(_l("Login (e-mail)"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"))
    language = SelectField(_l("Interface language"))


class UserView(ScopedModelView):
    """Users: operators add merchant accounts (owner or staff), disable or enable them and
    hand out one-time password reset links (nothing is e-mailed). Operators themselves
    are created with ``backoffice create-user``."""

    list_template = "admin/users_list.html"
    column_list = ("id", "login", "role", "merchant", "language", "active", "last_login_at", "locked_until")
    column_details_exclude_list = ("password_hash", "session_token", "totp_secret", "totp_last_step",
                                   "totp_pending_secret", "totp_pending_ref", "totp_pending_until", "list_columns")
    column_searchable_list = ("login",)
    column_formatters = {"role": labels.formatter(labels.ROLE, "role")}
    column_labels = {"login": _l("Login"), "role": _l("Role"), "merchant": _l("Merchant"),
                     "language": _l("Language"), "active": _l("Active"), "last_login_at": _l("Last sign-in"),
                     "locked_until": _l("Locked until"), "timezone": _l("Time zone")}
    column_filters = (
        MerchantFilter(column=User.merchant),
        FilterEqual(column=User.role, name=_l("Role"), options=[(k, v) for k, v in labels.ROLE.items()]),
        BooleanEqualFilter(column=User.active, name=_l("Active")),
    )
    column_filters_basic = column_filters  # at once above the list (issue 22)
    form_columns = ("language",)
    form_choices = {"language": _live(language_choices)}

    def update_model(self, form, model):
        try:
            service.set_user_language(model, form.language.data, current_user.id, ip=request.remote_addr)
        except SettingsError as exc:
            form_errors(form, exc)
            return False
        return True

    @expose("/add/", methods=("GET", "POST"))
    def add_view(self):
        form = MerchantUserForm()
        form.merchant.choices = [(m.id, m.name) for m in Merchant.select().order_by(Merchant.name)]
        form.role.choices = [(r, labels.ROLE[r]) for r in service.MERCHANT_ROLES]
        form.language.choices = [(code, name, {"lang": code}) for code, name in language_choices()]  # own names
        if request.method == "GET" and request.args.get("merchant", "").isdigit():
            form.merchant.data = int(request.args["merchant"])
        if form.validate_on_submit():
            merchant = Merchant.get_or_none(Merchant.id == form.merchant.data)
            try:
                if merchant is None:
                    raise SettingsError({"merchant": _("Choose a merchant.")})
                # No password is chosen for anyone: the user sets it with the one-time link.
                user = service.create_merchant_user(merchant, form.login.data, generate_password(32),
                                                    form.role.data, current_user.id, language=form.language.data,
                                                    ip=request.remote_addr)
            except SettingsError as exc:
                form_errors(form, exc)
            else:
                token = service.issue_reset_token(user, current_user.id, ip=request.remote_addr)
                return self._render_link(user, token, created=True)
        return self.render("admin/users_create.html", form=form)

    def _render_link(self, user, token, created=False):
        link = url_for("password_reset.reset_password", token=token, _external=True)
        return self.render("admin/users_reset_link.html", user=user, link=link, created=created,
                           hours=int(RESET_TTL.total_seconds() // 3600))

    def _set_active(self, ids, active):
        n = 0
        for user in User.select().where(User.id.in_(ids)):
            try:
                n += service.set_user_active(user, active, current_user.id, ip=request.remote_addr)
            except SettingsError as exc:
                flash(exc.errors.get("active", str(exc)), "error")
        flash(_("%(n)d users changed.", n=n), "success")

    @action("disable", _l("Disable"), _l("Disable the selected users? Their sessions end at once."))
    def action_disable(self, ids):
        self._set_active(ids, False)

    @action("enable", _l("Enable"), _l("Enable the selected users again?"))
    def action_enable(self, ids):
        self._set_active(ids, True)

    @action("reset_password", _l("Reset password"),
            _l("Make a one-time link that lets the user set a new password?"))
    def action_reset_password(self, ids):
        if len(ids) != 1:
            flash(_("Choose exactly one user to reset the password of."), "error")
            return None
        user = User.get_by_id(ids[0])
        token = service.issue_reset_token(user, current_user.id, ip=request.remote_addr)
        return self._render_link(user, token)


class PaymentSystemView(AuditedViewMixin, ScopedModelView):
    column_list = ("id", "code", "name", "currency", "country", "active")
    form_columns = ("code", "name", "currency", "country", "active", "withdrawal_fields")
    form_args = {"country": {"description": _l("Two letters, ISO 3166 (BD, IN, PK): the dashboard's country "
                                               "filter."),
                             "filters": [lambda value: (value or "").strip().upper() or None],
                             "validators": [Optional(), Regexp(r"^[A-Z]{2}$", message=_l("Two capital letters, "
                                                                                          "e.g. BD."))]}}
    # The withdrawal field schema (issue 5): JSON checked against the standard field set.
    form_overrides = {"withdrawal_fields": WithdrawalSchemaField}
    column_labels = COMMON_LABELS
    column_formatters = {"withdrawal_fields": schema_words}  # labelled, in words (issue 22, point 5)


class ExchangeRateView(AuditedViewMixin, ScopedModelView):
    column_list = ("currency", "rate_to_usd", "effective_date")
    column_default_sort = ("effective_date", True)
    column_labels = COMMON_LABELS


PENDING_CREATED = date_filters(PendingActivation.created_at, _l("Created"))


class MerchantAndSystemJoined:
    """A list of rows that name a merchant and a payment system: both joined in the list's
    one query (no query per row), scoped like every list."""

    def get_query(self):
        model = self.model
        query = (model.select(model, Merchant, PaymentSystem)
                 .join(Merchant, on=(model.merchant == Merchant.id)).switch(model)
                 .join(PaymentSystem, on=(model.payment_system == PaymentSystem.id))
                 .switch(model))
        return scope_query(query, model)

    def _handle_join(self, query, field, joins):
        joins.update(("Merchant", "PaymentSystem"))  # joined by get_query already
        return super()._handle_join(query, field, joins)


class PendingActivationView(MerchantAndSystemJoined, ScopedModelView):
    column_default_sort = ("id", True)
    column_list = ("id", "merchant", "payment_system", "transaction_number", "label", "order_id", "amount",
                   "sender_last4", "network", "status", "created_at", "expires_at")
    column_default_hidden = ("network", "sender_last4")
    column_labels = COMMON_LABELS
    column_formatters = {"status": badges.PENDING_STATUS_BADGE}
    column_classes = {"label": "bo-wrap-narrow", "order_id": "bo-wrap-narrow"}
    list_live = True
    named_filter_urls = True
    column_filters_basic = (
        MerchantFilter(column=PendingActivation.merchant),
        FilterEqual(column=PendingActivation.label, name=_l("Label")),
        FilterEqual(column=PendingActivation.transaction_number, name=_l("Transaction number")),
        FilterEqual(column=PendingActivation.order_id, name=_l("Order ID")),
        FilterEqual(column=PendingActivation.status, name=_l("Status"), options=labels.choices(labels.PENDING_STATUS)),
        *PENDING_CREATED[:2],
    )
    column_filters = column_filters_basic + (
        PENDING_CREATED[2],
        FilterEqual(column=PendingActivation.payment_system, name=_l("Wallet type"), options=payment_system_choices),
    )



def _audit_description(model):
    """The entry as a sentence with its before → after list (``audit_sentences``); the
    names it looks up are read once per page."""
    names = g.get("audit_names")
    if names is None:
        names = g.audit_names = audit_sentences.Names(is_operator())
    return audit_sentences.describe(model, is_operator(), names)


def _audit_summary(view, context, model, name):
    return Markup(_audit_description(model).__html__())


def _audit_user_choices():
    query = scope_query(User.select(User.id, User.login), User).order_by(User.login).limit(1000)
    return [(u.id, u.login) for u in query]


AUDIT_DATES = date_filters(AuditLog.created_at, _l("Date"))


class AuditLogView(ScopedModelView):
    """Who changed what, when. Operators see every entry; a merchant owner its own
    merchant's entries (scoped by the base class). Dates in the viewer's zone."""

    export_types = ["csv"]
    named_filter_urls = True
    column_default_sort = ("id", True)
    # "description": the entry as a sentence with a readable before → after (never JSON);
    # the CSV keeps the stored summary too, next to it.
    column_list = ("created_at", "user", "merchant", "action", "object_type", "object_id", "description", "ip")
    column_details_list = column_list
    column_export_list = ("created_at", "user", "merchant", "action", "object_type", "object_id", "description",
                          "summary", "ip")
    column_labels = {"created_at": _l("Date"), "user": _l("User"), "merchant": _l("Merchant"),
                     "action": _l("Action"), "object_type": _l("Object"), "object_id": _l("Object ID"),
                     "description": _l("What happened"), "summary": _l("Before / after (JSON)"),
                     "ip": _l("IP address")}
    # Who and from where: merchants see "Operator" and no address for platform staff.
    column_formatters = {"description": _audit_summary, "user": actor_formatter("user"),
                         "ip": address_formatter("user", "ip")}
    column_formatters_detail = column_formatters
    column_default_hidden = ("object_type", "object_id")
    column_classes = {"description": "bo-wrap", "user": "bo-wrap-narrow"}
    list_live = True
    column_formatters_export = {"user": actor_formatter("user"), "ip": address_formatter("user", "ip"),
                                "description": lambda v, c, m, n: _audit_description(m).text(),
                                "summary": lambda v, c, m, n: json.dumps(m.summary or {}, ensure_ascii=False)}
    column_filters_basic = (
        MerchantFilter(column=AuditLog.merchant),
        FilterEqual(column=AuditLog.user, name=_l("User"), options=_live(_audit_user_choices)),
        FilterLike(column=AuditLog.action, name=_l("Action")),
        *AUDIT_DATES[:2],
    )
    column_filters = column_filters_basic + (AUDIT_DATES[2],)

    def get_query(self):
        # Who and which merchant in the same query (no query per row).
        query = (AuditLog.select(AuditLog, User, Merchant)
                 .join(User, JOIN.LEFT_OUTER, on=(AuditLog.user == User.id))
                 .switch(AuditLog).join(Merchant, JOIN.LEFT_OUTER, on=(AuditLog.merchant == Merchant.id))
                 .switch(AuditLog))
        return scope_query(query, AuditLog)

    def get_export_name(self, export_type="csv"):
        return f"audit_log.{export_type}"


class JobsView(SecureBaseView):
    @expose("/")
    def index(self):
        return self.render("admin/jobs.html", queues=queue_summary(current_app.config))


class MerchantPaymentSystemView(MerchantAndSystemJoined, AuditedViewMixin, ScopedModelView):
    """Per merchant and payment system: enabled in the plugin, minimum deposit, commission."""

    column_list = ("merchant", "payment_system", "enabled", "min_deposit", "commission_percent", "display_order")
    column_labels = COMMON_LABELS
    # The minimum deposit is money (``amounts``); the commission a number in the viewer's language.
    column_formatters = {"commission_percent": lambda v, c, m, n: format_number(m.commission_percent, 2)}
    column_formatters_export = {"commission_percent": lambda v, c, m, n: str(m.commission_percent)}
    form_columns = ("merchant", "payment_system", "enabled", "min_deposit", "commission_percent", "display_order")
    column_filters = (
        MerchantFilter(column=MerchantPaymentSystem.merchant),
        FilterEqual(column=MerchantPaymentSystem.payment_system, name=_l("Payment system"),
                    options=payment_system_choices),
    )
    column_filters_basic = column_filters  # at once above the list (issue 22)


    def validate_form(self, form):
        if not super().validate_form(form):
            return False
        if not hasattr(form, "commission_percent"):  # the list's action form comes here too
            return True
        try:
            service.check_payment_settings(form.min_deposit.data, form.commission_percent.data)
        except SettingsError as exc:
            form_errors(form, exc)
            return False
        return True


class ConnectorTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    payment_systems = SelectMultipleField(_l("Payment systems it may report for"), validators=[DataRequired()])


class ConnectorTokenView(ScopedModelView):
    """Tokens are stored hashed: a new one is shown once, on the page that issues it."""

    list_template = "admin/connector_tokens_list.html"
    column_list = ("id", "name", "payment_systems", "active", "created_at", "last_used_at")
    column_details_exclude_list = ("token_hash",)
    column_labels = COMMON_LABELS

    @expose("/issue/", methods=("GET", "POST"))
    def issue_view(self):
        form = ConnectorTokenForm()
        form.payment_systems.choices = [(ps.code, ps.name) for ps in PaymentSystem.select().order_by(PaymentSystem.name)]
        if form.validate_on_submit():
            try:
                token, row = connectors.issue_token(form.name.data, form.payment_systems.data, current_user.id,
                                                    ip=request.remote_addr)
            except SettingsError as exc:
                form_errors(form, exc)
            else:
                return self.render("admin/connector_token_issued.html", token=token, row=row)
        return self.render("admin/connector_token_issue.html", form=form)

    @action("deactivate", _l("Deactivate"), _l("Deactivate the selected tokens? Connectors using them stop at once."))
    def action_deactivate(self, ids):
        connectors.deactivate_tokens(ids, current_user.id, ip=request.remote_addr)
