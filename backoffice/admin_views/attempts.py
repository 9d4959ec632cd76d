"""Payments → Activation attempts (SPEC §11): every activation attempt, what the
visitor was told (outcome) and why (reason), newest first.

Read-only for everyone: operators see every merchant's attempts (a Merchant column
and filter); a merchant's users see their own merchant's only (the base class scopes
the list, the details, the export and the filters; the Merchant column and filter
are not offered to them). Filters by reason, label, transaction number, network,
date (calendar days of the viewer's zone) and merchant; CSV export through the one
writer every list uses (``ScopedModelView._export_csv``, formula-safe). The
dashboard's "Activation attempts by reason" panel links here (:func:`list_url`).
"""
import datetime
import ipaddress

from flask import url_for
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from peewee import JOIN

from .. import labels
from ..i18n import viewer_timezone_name, zone
from ..models import ActivationAttempt, Merchant, PaymentSystem, Transaction
from ..services.matching import network_of
from . import badges
from .base import MerchantFilter, ScopedModelView, is_operator, payment_system_choices, scope_query
from .timezones import date_filters

# Operators only: the list's, the details' and the export's Merchant column.
OPERATOR_COLUMNS = ("merchant",)


class NetworkFilter(FilterEqual):
    """The visitor's network: ``203.0.113.0/24`` as stored, or any address in it
    (``203.0.113.7`` finds its /24, an IPv6 address its /64)."""

    def clean(self, value):
        value = (value or "").strip()
        if "/" in value:
            try:
                return str(ipaddress.ip_network(value, strict=False))
            except ValueError:
                return value
        return network_of(value) or value


def _transaction_link(view, context, model, name):
    """The attempt's transaction, linking to its details (only a transaction of the
    attempt's own merchant: the viewer may open it)."""
    tx_id = model.linked_tx.id if getattr(model, "linked_tx", None) is not None else None
    if tx_id is None:
        return ""
    return Markup('<a href="%s" data-transaction="%d">%d</a>') % (
        url_for("transactions.details_view", id=tx_id), tx_id, tx_id)


def _transaction_text(view, context, model, name):
    tx = getattr(model, "linked_tx", None)
    return tx.id if tx is not None and tx.id is not None else ""


MERCHANT_FILTER = MerchantFilter(column=ActivationAttempt.merchant)
REASON_FILTER = FilterEqual(column=ActivationAttempt.reason, name=_l("Reason"),
                            options=labels.choices(labels.ATTEMPT_REASON))
DATE_FROM, DATE_TO, DATE_FILTER = date_filters(ActivationAttempt.created_at, _l("Date"))


class ActivationAttemptView(ScopedModelView):
    named_filter_urls = True
    export_types = ["csv"]
    export_max_rows = 200000
    column_default_sort = [("created_at", True), ("id", True)]
    column_list = ("created_at", "merchant", "payment_system", "transaction_number", "label", "network", "sender",
                   "outcome", "reason", "transaction")
    column_details_list = ("id",) + column_list
    column_sortable_list = ("created_at",)
    column_labels = {
        "id": _l("ID"), "created_at": _l("When"), "merchant": _l("Merchant"), "payment_system": _l("Wallet type"),
        "transaction_number": _l("Transaction number"), "label": _l("Label"), "network": _l("Network"),
        "sender": _l("Sender"), "outcome": _l("Visitor was told"), "reason": _l("Reason"),
        "transaction": _l("Transaction"),
    }
    column_formatters = {
        "outcome": badges.ATTEMPT_OUTCOME_BADGE,
        "reason": labels.formatter(labels.ATTEMPT_REASON, "reason"),
        "transaction": _transaction_link,
    }
    column_formatters_detail = column_formatters
    column_default_hidden = ("network", "sender")
    column_classes = {"label": "bo-wrap-narrow", "reason": "bo-wrap-narrow"}
    list_live = True
    column_formatters_export = {
        "outcome": labels.formatter(labels.ATTEMPT_OUTCOME, "outcome"),
        "reason": labels.formatter(labels.ATTEMPT_REASON, "reason"),
        "transaction": _transaction_text,
    }
    column_filters = (
        REASON_FILTER,
        FilterEqual(column=ActivationAttempt.outcome, name=_l("Visitor was told"),
                    options=labels.choices(labels.ATTEMPT_OUTCOME)),
        FilterEqual(column=ActivationAttempt.label, name=_l("Label")),
        FilterEqual(column=ActivationAttempt.transaction_number, name=_l("Transaction number")),
        NetworkFilter(column=ActivationAttempt.network, name=_l("Network")),
        FilterEqual(column=ActivationAttempt.sender, name=_l("Sender")),
        FilterEqual(column=ActivationAttempt.payment_system, name=_l("Wallet type"), options=payment_system_choices),
        DATE_FILTER,
        MERCHANT_FILTER,  # operators (merchant users are not offered it; their list is theirs whatever it says)
        DATE_FROM,
        DATE_TO,
    )
    # At once above the list (issue 22, point 2); the rest under "Add Filter".
    column_filters_basic = (MERCHANT_FILTER, column_filters[2], column_filters[3], REASON_FILTER, DATE_FROM, DATE_TO)

    def get_query(self):
        # Merchant, payment system and the attempt's transaction (when it is the same
        # merchant's: the viewer may open it) in the same query: no query per row.
        linked = Transaction.alias("linked_tx")
        query = (ActivationAttempt.select(ActivationAttempt, Merchant, PaymentSystem, linked.id)
                 .join(Merchant, on=(ActivationAttempt.merchant == Merchant.id))
                 .switch(ActivationAttempt)
                 .join(PaymentSystem, on=(ActivationAttempt.payment_system == PaymentSystem.id))
                 .switch(ActivationAttempt)
                 .join(linked, JOIN.LEFT_OUTER, attr="linked_tx",
                       on=((ActivationAttempt.transaction == linked.id)
                           & (linked.merchant == ActivationAttempt.merchant)))
                 .switch(ActivationAttempt))
        return scope_query(query, ActivationAttempt)

    def _handle_join(self, query, field, joins):
        joins.update(("Merchant", "PaymentSystem"))  # joined by get_query already
        return super()._handle_join(query, field, joins)

    # -- operators only: the Merchant column and filter (the list's: the base class) ---------
    @staticmethod
    def _for_viewer(columns):
        if is_operator():
            return columns
        return [(name, title) for name, title in columns if name not in OPERATOR_COLUMNS]

    @property
    def _details_columns(self):
        return self._for_viewer(self.__dict__.get("_details_columns_cached", []))

    @_details_columns.setter
    def _details_columns(self, value):
        self.__dict__["_details_columns_cached"] = value

    @property
    def _export_columns(self):
        return self._for_viewer(ScopedModelView._export_columns.fget(self))

    @_export_columns.setter
    def _export_columns(self, value):
        ScopedModelView._export_columns.fset(self, value)

    def get_export_name(self, export_type="csv"):
        stamp = datetime.datetime.now(zone(viewer_timezone_name())).strftime("%Y%m%d_%H%M%S")
        return f"activation_attempts_{stamp}.{export_type}"

    # -- links from elsewhere (the dashboard) --------------------------------------------------
    def list_url(self, reason=None, date_from=None, date_to=None, merchant_id=None):
        """The list filtered by reason, a period of calendar days (viewer's zone) and,
        for operators, a merchant."""
        args = {}
        if reason is not None:
            args[f"flt0_{self.filter_key(REASON_FILTER)}"] = reason
        if date_from is not None and date_to is not None:
            args[f"flt1_{self.filter_key(DATE_FILTER)}"] = f"{date_from.isoformat()} to {date_to.isoformat()}"
        if merchant_id is not None and is_operator():
            args[f"flt2_{self.filter_key(MERCHANT_FILTER)}"] = merchant_id
        return url_for(f"{self.endpoint}.index_view", **args)


__all__ = ["ActivationAttemptView", "NetworkFilter"]
