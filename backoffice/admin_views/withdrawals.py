"""Payments → Withdrawals (every role; merchants see their own)."""
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_babel import lazy_gettext as _l

from .. import labels
from ..models import Withdrawal
from .base import EVERYONE, ScopedModelView, payment_system_choices, read_only


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
