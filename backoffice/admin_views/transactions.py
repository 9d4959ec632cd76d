"""Payments → Transactions (every role; merchants see their own)."""
from flask_admin.contrib.peewee.filters import FilterEqual, FilterLike
from flask_babel import lazy_gettext as _l

from .. import labels
from ..models import Transaction
from .base import EVERYONE, ScopedModelView, payment_system_choices, read_only


class TransactionView(ScopedModelView):
    """The deposits core issue adds the remaining filters and the operator actions."""

    allowed_roles = EVERYONE
    role_permissions = read_only(*EVERYONE)
    column_default_sort = ("id", True)
    column_list = (
        "id", "payment_system", "wallet", "amount", "commission", "currency", "created_at",
        "activated_at", "label", "order_id", "transaction_number", "counterparty", "status",
        "postback_status", "type",
    )
    column_labels = {
        "id": _l("ID"), "payment_system": _l("Wallet type"), "wallet": _l("Wallet"),
        "amount": _l("Amount"), "commission": _l("Commission"), "currency": _l("Currency"),
        "created_at": _l("Created"), "activated_at": _l("Activated"), "label": _l("Label"),
        "order_id": _l("Order ID"), "transaction_number": _l("Transaction number"),
        "counterparty": _l("Counterparty"), "status": _l("Status"),
        "postback_status": _l("Postback status"), "type": _l("Transaction type"),
        "direction": _l("Direction"), "originality": _l("Originality"),
    }
    column_formatters = {
        "status": labels.formatter(labels.TRANSACTION_STATUS, "status"),
        "postback_status": labels.formatter(labels.TRANSACTION_POSTBACK_STATUS, "postback_status"),
        "type": labels.formatter(labels.TRANSACTION_TYPE, "type"),
        "direction": labels.formatter(labels.DIRECTION, "direction"),
        "originality": labels.formatter(labels.ORIGINALITY, "originality"),
    }
    column_filters = (
        FilterEqual(column=Transaction.id, name=_l("ID")),
        FilterEqual(column=Transaction.payment_system, name=_l("Wallet type"), options=payment_system_choices),
        FilterEqual(column=Transaction.label, name=_l("Label")),
        FilterEqual(column=Transaction.transaction_number, name=_l("Transaction number")),
        FilterEqual(column=Transaction.order_id, name=_l("Order ID")),
        FilterEqual(column=Transaction.direction, name=_l("Direction"), options=labels.choices(labels.DIRECTION)),
        FilterLike(column=Transaction.counterparty, name=_l("Counterparty")),
        FilterEqual(column=Transaction.postback_status, name=_l("Postback status"),
                    options=labels.choices(labels.TRANSACTION_POSTBACK_STATUS)),
    )
