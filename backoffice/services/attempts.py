"""The activation attempt log (SPEC §11): every attempt, its outcome (what the visitor
was told) and its reason code (why), kept ``ACTIVATION_ATTEMPT_RETENTION_DAYS`` (180).

Written in the activation's own database transaction by one prepared ``INSERT``.
"""
import datetime

from peewee import fn

from ..db import CompiledInsert, delete_older
from ..models import ActivationAttempt, utcnow

_INSERT = CompiledInsert(ActivationAttempt)


def record(merchant_id, payment_system_id, transaction_number, label, network, outcome, reason, tx=None, now=None):
    """Log one attempt (call inside the attempt's database transaction)."""
    _INSERT.create(
        merchant=merchant_id, payment_system=payment_system_id, transaction_number=transaction_number[:100],
        label=(label or "")[:255], network=network or "",
        # No sender reported: no wallet to count against (the sender velocity limit).
        sender=(tx.counterparty or None) if tx is not None else None,
        transaction=tx.id if tx is not None else None, outcome=outcome, reason=reason, created_at=now or utcnow(),
    )


DEFAULT_RETENTION_DAYS = 180


def purge(config, now=None, batch=5000):
    """Delete the attempts older than ``ACTIVATION_ATTEMPT_RETENTION_DAYS`` (180); how many."""
    days = config.get("ACTIVATION_ATTEMPT_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS
    cutoff = (now or utcnow()) - datetime.timedelta(days=float(days))
    return delete_older(ActivationAttempt, ActivationAttempt.created_at, cutoff, batch)


def counts_by_reason(merchant_id, start, end):
    """{reason: attempts} in [start, end) (UTC), of one merchant or (None) all."""
    query = ActivationAttempt.select(ActivationAttempt.reason, fn.COUNT(ActivationAttempt.id)).where(
        (ActivationAttempt.created_at >= start) & (ActivationAttempt.created_at < end))
    if merchant_id is not None:
        query = query.where(ActivationAttempt.merchant == merchant_id)
    return dict(query.group_by(ActivationAttempt.reason).tuples())
