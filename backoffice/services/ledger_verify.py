"""A merchant's balance per currency (SPEC §3/§4, issue 5).

balance = completed deposits − their commission − withdrawals that are new or approved.

A completed deposit is an incoming, normal (not fraud), activated transaction whose
postback status says the deposit completed (``pending``, ``sent`` or ``error``): a
small payment whose stockpiling is still in progress does not count yet. New
withdrawals count against the balance at once, so money asked for cannot be asked for
again; a rejected request gives it back.
"""
from decimal import Decimal

from peewee import fn

from ..models import COMPLETED_DEPOSIT_POSTBACK_STATUSES, Transaction, Withdrawal
from ..money import quantize

COMPLETED_POSTBACK_STATUSES = COMPLETED_DEPOSIT_POSTBACK_STATUSES  # the partial index of models.Transaction
RESERVING_WITHDRAWAL_STATUSES = ("new", "approved")
ZERO = Decimal("0.00")


def completed_deposits_query(merchant_id):
    return Transaction.select().where(
        (Transaction.merchant == merchant_id)
        & (Transaction.status == "activated")
        & (Transaction.originality == "normal")
        & (Transaction.direction == "incoming")
        & (Transaction.postback_status.in_(COMPLETED_POSTBACK_STATUSES))
    )


def _dec(value):
    # SQLite sums DECIMAL columns as floats: round back to the cent (exact below 10^13).
    return ZERO if value is None else quantize(Decimal(str(value)))


def balances(merchant, currency=None):
    """``{currency: Decimal}`` for every currency the merchant has money or requests in."""
    merchant_id = getattr(merchant, "id", merchant)
    result = {}
    deposits = (
        completed_deposits_query(merchant_id)
        .select(Transaction.currency, fn.SUM(Transaction.amount), fn.SUM(Transaction.commission))
        .group_by(Transaction.currency)
    )
    if currency is not None:
        deposits = deposits.where(Transaction.currency == currency)
    for cur, amount, commission in deposits.tuples():
        result[cur] = result.get(cur, ZERO) + _dec(amount) - _dec(commission)
    withdrawals = (
        Withdrawal.select(Withdrawal.currency, fn.SUM(Withdrawal.amount))
        .where((Withdrawal.merchant == merchant_id) & (Withdrawal.status.in_(RESERVING_WITHDRAWAL_STATUSES)))
        .group_by(Withdrawal.currency)
    )
    if currency is not None:
        withdrawals = withdrawals.where(Withdrawal.currency == currency)
    for cur, amount in withdrawals.tuples():
        result[cur] = result.get(cur, ZERO) - _dec(amount)
    return {cur: quantize(value) for cur, value in sorted(result.items())}


def available(merchant, currency):
    """The balance in one currency (0.00 when the merchant has none)."""
    return balances(merchant, currency).get(currency, ZERO)
