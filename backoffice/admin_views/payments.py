"""Payments → Transactions and Withdrawals (every role; merchants see their own)."""
from flask_admin.contrib.peewee.filters import FilterEqual, FilterLike
from flask_babel import lazy_gettext as _l

from .. import labels
from ..models import PaymentSystem, Transaction, Withdrawal
from .base import EVERYONE, LiveChoices, ScopedModelView, read_only


@LiveChoices
def payment_system_choices():
    return [(ps.id, ps.name) for ps in PaymentSystem.select().order_by(PaymentSystem.name)]


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


class WithdrawalView(ScopedModelView):
    """The withdrawals issue adds request creation, decisions and the remaining filters."""

    allowed_roles = EVERYONE
    role_permissions = read_only(*EVERYONE)
    column_default_sort = ("id", True)
    column_list = (
        "payment_system", "id", "created_at", "amount", "currency", "withdrawal_id", "wallet_sender",
        "wallet_recipient", "label", "comment", "request_kind", "postback_status", "status",
    )
    column_exclude_list = ("fields",)
    column_labels = {
        "payment_system": _l("Wallet type"), "id": _l("ID"), "created_at": _l("Request date"),
        "amount": _l("Amount"), "currency": _l("Currency"), "withdrawal_id": _l("Withdrawal ID"),
        "wallet_sender": _l("Wallet sender"), "wallet_recipient": _l("Wallet recipient"),
        "label": _l("Label"), "comment": _l("Comment"), "request_kind": _l("Request kind"),
        "postback_status": _l("Postback"), "status": _l("Status"),
    }
    column_formatters = {
        "status": labels.formatter(labels.WITHDRAWAL_STATUS, "status"),
        "postback_status": labels.formatter(labels.WITHDRAWAL_POSTBACK_STATUS, "postback_status"),
        "request_kind": labels.formatter(labels.REQUEST_KIND, "request_kind"),
    }
    column_filters = (
        FilterEqual(column=Withdrawal.payment_system, name=_l("Wallet type"), options=payment_system_choices),
        FilterEqual(column=Withdrawal.withdrawal_id, name=_l("Withdrawal ID")),
        FilterEqual(column=Withdrawal.label, name=_l("Label")),
        FilterEqual(column=Withdrawal.status, name=_l("Status"), options=labels.choices(labels.WITHDRAWAL_STATUS)),
    )
