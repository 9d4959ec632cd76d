"""Wallets (SPEC §12): the operators' screen of receiving wallets, their limits, pauses
and health."""
from .base import ScopedModelView
from .operators import COMMON_LABELS
from .auditing import AuditedViewMixin


class WalletView(AuditedViewMixin, ScopedModelView):
    column_list = ("id", "merchant", "payment_system", "identifier", "number", "active", "created_at")
    column_searchable_list = ("identifier", "number")
    column_labels = COMMON_LABELS
    form_columns = ("merchant", "payment_system", "identifier", "number", "active")
