"""Payments → Transactions (every role; merchants see their own).

Every filter and column of SPEC §4; dates in the viewer's time zone (filters too);
CSV export of the filtered, scoped list; no COUNT(*) on the big table. Operators
also: create a manual transaction, mark fraud / normal, activate for a label.
"""
import datetime

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from peewee import JOIN
from wtforms import DateTimeLocalField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .. import labels
from ..i18n import viewer_timezone_name, zone
from ..models import Merchant, PaymentSystem, Transaction, Wallet
from ..services import activation, timeline
from ..services.ingest import IngestConflict, IngestError, Report, ingest
from ..timeutil import to_naive_utc
from .amounts import AmountField
from . import badges
from .base import MerchantFilter, ScopedModelView, is_operator, payment_system_choices, scope_query
from .postbacks import resend_for_objects
from .timezones import LocalMomentRangeFilter, date_filters
from .zone_names import zone_label


def _wallet_attr(attribute):
    def _format(view, context, model, name):
        return getattr(model.wallet, attribute) if model.wallet_id else ""

    return _format


class ManualTransactionForm(FlaskForm):
    payment_system = SelectField(_l("Wallet type"), coerce=int, validators=[DataRequired()])
    wallet_number = StringField(_l("Wallet number"), validators=[DataRequired(), Length(max=100)])
    transaction_number = StringField(_l("Transaction number"), validators=[DataRequired(), Length(max=100)])
    amount = AmountField(_l("Amount"), validators=[InputRequired()], allow_zero=False)
    direction = SelectField(_l("Direction"), choices=labels.choices(labels.DIRECTION))
    counterparty = StringField(_l("Counterparty"), validators=[Optional(), Length(max=255)])
    occurred_at = DateTimeLocalField(_l("Date (your time zone)"), validators=[Optional()], format="%Y-%m-%dT%H:%M")


class ActivateForm(FlaskForm):
    label = StringField(_l("Label"), validators=[DataRequired(), Length(max=255)])
    order_id = StringField(_l("Order ID"), validators=[Optional(), Length(max=255)])


MERCHANT_FILTER = MerchantFilter(column=Transaction.merchant)
# Creation date: from, to (the row above the list) and between (under "Add Filter").
CREATED_FILTERS = date_filters(Transaction.created_at, _l("Creation date"))


class TransactionView(ScopedModelView):
    list_template = "admin/transactions_list.html"
    details_template = "admin/transactions_details.html"
    named_filter_urls = True
    export_types = ["csv"]
    export_max_rows = 200000
    column_default_sort = ("created_at", True)
    column_list = (
        "id", "merchant", "payment_system", "wallet_identifier", "wallet_number", "amount", "commission", "currency",
        "created_at", "activated_at", "label", "order_id", "transaction_number", "counterparty", "direction",
        "status", "postback_status", "type", "originality",
    )
    # At 1366 px the list shows what merchants search by (issue 22); the chooser adds the rest.
    column_default_hidden = ("wallet_identifier", "wallet_number", "commission", "currency", "activated_at",
                             "counterparty", "direction")
    column_classes = {"label": "bo-wrap-narrow", "order_id": "bo-wrap-narrow", "counterparty": "bo-wrap-narrow"}
    list_live = True
    column_sortable_list = ("id", "amount", "created_at", "activated_at")
    column_details_list = tuple(c for c in column_list if c != "merchant") + ("stockpiling", "stockpiling_end_at")
    column_export_list = tuple(c for c in column_list if c != "merchant")
    column_labels = {
        "id": _l("ID"), "payment_system": _l("Wallet type"), "wallet_identifier": _l("Wallet identifier"),
        "wallet_number": _l("Wallet number"), "amount": _l("Amount"), "commission": _l("Commission"),
        "currency": _l("Currency"), "created_at": _l("Created"), "activated_at": _l("Activated"),
        "label": _l("Label"), "order_id": _l("Order ID"), "transaction_number": _l("Transaction number"),
        "counterparty": _l("Counterparty"), "status": _l("Status"), "postback_status": _l("Postback status"),
        "type": _l("Transaction type"), "direction": _l("Direction"), "originality": _l("Originality"),
        "stockpiling": _l("Stockpiling"), "stockpiling_end_at": _l("Stockpiling end"), "merchant": _l("Merchant"),
    }
    column_formatters = {
        "wallet_identifier": _wallet_attr("identifier"),
        "wallet_number": _wallet_attr("number"),
        "status": badges.TRANSACTION_STATUS_BADGE,
        "postback_status": badges.TRANSACTION_POSTBACK_BADGE,
        "type": badges.TRANSACTION_TYPE_BADGE,
        "direction": labels.formatter(labels.DIRECTION, "direction"),
        "originality": badges.ORIGINALITY_BADGE,
        "stockpiling": lambda v, c, m, n: m.stockpiling_id or "",
    }
    # The manual's basic filters, at once above the list (issue 22, point 2); the rest under "Add Filter".
    column_filters_basic = (
        MERCHANT_FILTER,
        FilterEqual(column=Transaction.id, name=_l("ID")),
        FilterEqual(column=Transaction.payment_system, name=_l("Wallet type"), options=payment_system_choices),
        FilterEqual(column=Transaction.label, name=_l("Label")),
        FilterEqual(column=Transaction.transaction_number, name=_l("Transaction number")),
        FilterEqual(column=Transaction.order_id, name=_l("Order ID")),
        FilterEqual(column=Transaction.direction, name=_l("Direction"), options=labels.choices(labels.DIRECTION)),
        FilterEqual(column=Transaction.status, name=_l("Status"), options=labels.choices(labels.TRANSACTION_STATUS)),
        *CREATED_FILTERS[:2],
    )
    column_filters = column_filters_basic + (
        CREATED_FILTERS[2],
        FilterEqual(column=Transaction.counterparty, name=_l("Counterparty")),
        FilterEqual(column=Transaction.type, name=_l("Transaction type"),
                    options=labels.choices(labels.TRANSACTION_TYPE)),
        FilterEqual(column=Transaction.originality, name=_l("Originality"),
                    options=labels.choices(labels.ORIGINALITY)),
        FilterEqual(column=Transaction.postback_status, name=_l("Postback status"),
                    options=labels.choices(labels.TRANSACTION_POSTBACK_STATUS)),
        LocalMomentRangeFilter(column=Transaction.activated_at, name=_l("Activation date")),
    )

    def get_query(self):
        # Wallet, payment system and merchant in the same query: no query per row.
        query = (
            Transaction.select(Transaction, Wallet, PaymentSystem, Merchant)
            .join(Wallet, JOIN.LEFT_OUTER)
            .switch(Transaction)
            .join(PaymentSystem)
            .switch(Transaction)
            .join(Merchant, on=(Transaction.merchant == Merchant.id))
            .switch(Transaction)
        )
        return self._scoped(query)

    def _scoped(self, query):
        return scope_query(query, Transaction)

    def get_export_name(self, export_type="csv"):
        stamp = datetime.datetime.now(zone(viewer_timezone_name())).strftime("%Y%m%d_%H%M%S")
        return f"transactions_{stamp}.{export_type}"

    # -- operator actions ----------------------------------------------------------------
    def _set_originality(self, ids, value):
        changed = activation.set_originality(ids, value, current_user.id, ip=request.remote_addr)
        flash(_("%(n)d transactions marked %(value)s.", n=changed, value=labels.ORIGINALITY[value]), "success")

    @action("mark_fraud", _l("Mark fraud"), _l("Mark the selected transactions as fraud?"))
    def action_mark_fraud(self, ids):
        self._set_originality(ids, "fraud")

    @action("mark_normal", _l("Mark normal"), _l("Mark the selected transactions as normal?"))
    def action_mark_normal(self, ids):
        self._set_originality(ids, "normal")

    @action("resend_postback", _l("Resend postback"), _l("Send the postbacks of the selected transactions again?"))
    def action_resend_postback(self, ids):
        return resend_for_objects(self, "transaction", ids)

    @expose("/manual/", methods=("GET", "POST"))
    def manual_view(self):  # operators (backoffice.roles)
        form = ManualTransactionForm()
        form.payment_system.choices = [(ps.id, f"{ps.name} ({ps.currency})")
                                       for ps in PaymentSystem.select().order_by(PaymentSystem.name)]
        if form.validate_on_submit():
            amount = form.amount.data  # a Decimal above zero (AmountField: typed in the viewer's language)
            if amount is not None:
                ps = PaymentSystem.get_by_id(form.payment_system.data)
                occurred = None
                if form.occurred_at.data:
                    occurred = to_naive_utc(form.occurred_at.data, zone(viewer_timezone_name()))
                report = Report(payment_system=ps.code, wallet_number=form.wallet_number.data.strip(),
                                transaction_number=form.transaction_number.data.strip(), amount=amount,
                                currency=ps.currency, direction=form.direction.data,
                                counterparty=(form.counterparty.data or "").strip(), occurred_at=occurred,
                                type="manual")
                try:
                    result = ingest(report, actor=current_user.id)
                except IngestError as exc:
                    getattr(form, exc.field, form.transaction_number).errors.append(exc.message)
                except IngestConflict:
                    form.transaction_number.errors.append(
                        _("This transaction number exists already with other details."))
                else:
                    if result.created:
                        flash(_("Manual transaction %(id)d created.", id=result.transaction.id), "success")
                    else:
                        flash(_("This transaction exists already; nothing was changed."), "info")
                    return redirect(self.get_url(".details_view", id=result.transaction.id))
        return self.render("admin/transactions_manual.html", form=form)

    @expose("/activate/", methods=("GET", "POST"))
    def activate_view(self):  # operators (backoffice.roles)
        tx = self.get_one(request.args.get("id"))
        form = ActivateForm()
        if form.validate_on_submit():
            try:
                outcome = activation.activate_manually(tx, form.label.data.strip(),
                                                       (form.order_id.data or "").strip() or None, current_user.id,
                                                       ip=request.remote_addr)
            except activation.ActivationError as exc:
                flash(exc.message, "error")
            else:
                category = "success" if outcome.status in activation.BINDING else "error"
                flash(_("Activation: %(status)s", status=labels.ACTIVATION_OUTCOME[outcome.status]), category)
                return redirect(self.get_url(".details_view", id=tx.id))
        return self.render("admin/transactions_activate.html", form=form, tx=tx)

    def may_activate(self, tx):
        """The details page's "Activate for a label" button: operators, on a transaction
        that can still be activated."""
        return self.may("activate") and activation.may_activate(tx)

    def timeline_of(self, tx):
        """The details page's timeline (SPEC §11): operators' logins for operators only."""
        return timeline.timeline(tx, for_operator=is_operator())

    def timeline_zone(self):
        return zone_label(viewer_timezone_name())  # as people read it (``zone_names``)

