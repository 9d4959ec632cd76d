"""Ingest: a wallet transaction reported by a payment-system connector (or entered by
an operator as a manual transaction).

Idempotent on (payment system, transaction number): the same report again changes
nothing; a conflicting one (another amount, wallet, direction or currency) is refused
and logged. A new incoming transaction that a visitor is already waiting for
(delayed activation) is activated in the same database transaction as the ingest.
"""
import datetime
import logging
from dataclasses import dataclass

from flask_babel import gettext as _
from peewee import IntegrityError

from ..db import write_transaction
from ..errors import FieldError
from ..models import Merchant, MerchantPaymentSystem, PaymentSystem, Transaction, Wallet, utcnow
from ..money import percent_of
from . import activation, audit, wallets

log = logging.getLogger(__name__)


class IngestError(FieldError):
    """A report refused for one field; ``status`` 400 (bad input), 403 (a payment
    system the connector may not report for) or 422 (no such wallet)."""

    def __init__(self, field, message, status=400):
        super().__init__(field, message)
        self.status = status

    @property
    def code(self):
        return "forbidden" if self.status == 403 else "invalid_request"


class IngestConflict(Exception):
    """The same transaction number was reported before with other facts."""

    def __init__(self, existing, differences):
        super().__init__(", ".join(differences))
        self.existing = existing
        self.differences = differences


@dataclass
class Report:
    payment_system: str
    wallet_number: str
    transaction_number: str
    amount: object  # Decimal
    currency: str
    direction: str = "incoming"
    counterparty: str = ""
    occurred_at: datetime.datetime = None
    type: str = "auto"


@dataclass
class IngestResult:
    created: bool
    transaction: Transaction
    activation: object = None  # activation.Outcome when a waiting visitor was served


def _differences(existing, report, wallet):
    diffs = []
    if existing.amount != report.amount:
        diffs.append("amount")
    if existing.wallet_id != wallet.id:
        diffs.append("wallet_number")
    if existing.direction != report.direction:
        diffs.append("direction")
    if existing.currency != report.currency:
        diffs.append("currency")
    return diffs


def _resolve(report, allowed_codes):
    ps = PaymentSystem.get_or_none(PaymentSystem.code == report.payment_system)
    if ps is None or not ps.active:
        raise IngestError("payment_system", _("Unknown payment system."))
    if allowed_codes is not None and ps.code not in allowed_codes:
        raise IngestError("payment_system", _("This token may not report for this payment system."), status=403)
    if report.currency != ps.currency:
        raise IngestError("currency", _("The currency of %(ps)s is %(cur)s.", ps=ps.name, cur=ps.currency))
    wallet = (Wallet.select(Wallet, Merchant).join(Merchant)  # the merchant's zone: the wallet's totals
              .where((Wallet.payment_system == ps) & (Wallet.number == report.wallet_number)).first())
    if wallet is None:
        raise IngestError("wallet_number", _("No wallet with this number on this payment system."), status=422)
    return ps, wallet


def _conflict(existing, report, wallet, actor):
    diffs = _differences(existing, report, wallet)
    if not diffs:
        return IngestResult(False, existing)
    log.warning("conflicting report for %s/%s: %s", report.payment_system, report.transaction_number, diffs)
    with write_transaction():
        audit.record(actor, "transaction.conflicting_report", existing, summary={
            "differences": diffs, "reported_amount": str(report.amount), "stored_amount": str(existing.amount),
            "reported_wallet": report.wallet_number, "reported_direction": report.direction,
        })
    raise IngestConflict(existing, diffs)


def ingest(report, allowed_codes=None, actor=None, now=None, connector=None):
    """Store a reported transaction; returns IngestResult or raises IngestError/IngestConflict.

    ``allowed_codes``: the payment system codes the reporting token may use (None:
    any, for operators). ``actor``: the user entering a manual transaction.
    ``connector``: the ConnectorToken (or its id) that reported it (the timeline).
    """
    now = now or utcnow()
    ps, wallet = _resolve(report, allowed_codes)
    existing = Transaction.get_or_none(
        (Transaction.payment_system == ps) & (Transaction.transaction_number == report.transaction_number)
    )
    if existing is not None:
        return _conflict(existing, report, wallet, actor)
    settings = MerchantPaymentSystem.get_or_none(
        (MerchantPaymentSystem.merchant == wallet.merchant_id) & (MerchantPaymentSystem.payment_system == ps)
    )
    commission = (
        percent_of(report.amount, settings.commission_percent)
        if settings is not None and report.direction == "incoming"
        else percent_of(report.amount, 0)
    )
    occurred = report.occurred_at or now
    try:
        with write_transaction():
            tx = Transaction.create(
                wallet=wallet, payment_system=ps, merchant=wallet.merchant_id, amount=report.amount,
                currency=report.currency, commission=commission, transaction_number=report.transaction_number,
                direction=report.direction, counterparty=report.counterparty or "", type=report.type,
                created_at=occurred, connector=getattr(connector, "id", connector),
            )
            if actor is not None:
                audit.record(actor, "transaction.create_manual", tx, summary={
                    "amount": str(tx.amount), "transaction_number": tx.transaction_number})
            outcome = activation.activate_waiting(tx, now=now)
            # Last: the wallet's row stays locked only for the commit (the plugin stamps it too).
            wallets.count_report(wallet, wallet.merchant.timezone, tx.amount, tx.direction, occurred, now=now)
    except IntegrityError:
        # The same number was reported concurrently: judge against the stored row.
        existing = Transaction.get(
            (Transaction.payment_system == ps) & (Transaction.transaction_number == report.transaction_number)
        )
        return _conflict(existing, report, wallet, actor)
    return IngestResult(True, tx, outcome)
