"""The Review queue (SPEC §11): deposits held because they crossed a review threshold
of the merchant's matching policy wait here for an operator.

* :func:`approve` — the deposit completes: ledger entry, ``deposit.completed``, the
  dashboard (``activation.complete_held``);
* :func:`refuse` — its transactions become ``refused``: never credited; the visitor's
  plugin says the payment cannot be accepted.

Each decision is a conditional update of the review (``held`` → decided), so of two
operators deciding the same deposit at once exactly one wins; each is audited in the
same database transaction as its effect.
"""
from ..db import write_transaction
from ..models import DepositReview, Merchant, PaymentSystem, Transaction, utcnow
from . import activation, audit

MAX_NOTE = 2000


def _with_names(query):
    """A review query with its merchant and payment system joined (no query per row)."""
    return (query.join(Merchant, on=(DepositReview.merchant == Merchant.id))
            .switch(DepositReview)
            .join(PaymentSystem, on=(DepositReview.payment_system == PaymentSystem.id)))


def held(merchant_id=None):
    """The held deposits, oldest first (with their merchant and payment system)."""
    query = (_with_names(DepositReview.select(DepositReview, Merchant, PaymentSystem))
             .where(DepositReview.status == "held")
             .order_by(DepositReview.created_at, DepositReview.id))
    if merchant_id is not None:
        query = query.where(DepositReview.merchant == merchant_id)
    return query


def decided(limit=100):
    """The latest decisions, newest first."""
    return (_with_names(DepositReview.select(DepositReview, Merchant, PaymentSystem))
            .where(DepositReview.status != "held")
            .order_by(DepositReview.decided_at.desc(), DepositReview.id.desc())
            .limit(limit))


def _take(review_id, status, actor, now, note):
    """Decide a held review (conditional: None when it was decided already)."""
    taken = (DepositReview.update(status=status, decided_at=now, decided_by=getattr(actor, "id", actor), note=note)
             .where((DepositReview.id == review_id) & (DepositReview.status == "held"))
             .execute())
    return DepositReview.get_by_id(review_id) if taken == 1 else None


def _decide(ids, status, effect, actor, ip, note="", allowed=None):
    count = 0
    now = utcnow()
    note = (note or "").strip()[:MAX_NOTE]
    for review_id in sorted({int(i) for i in ids}):
        with write_transaction():
            if allowed is not None and not allowed(review_id):
                continue
            review = _take(review_id, status, actor, now, note)
            if review is None:
                continue
            effect(review, now)
            audit.record(actor, f"review.{'approve' if status == 'approved' else 'refuse'}", review,
                         merchant=review.merchant_id, summary={
                             "transaction": review.transaction_id, "label": review.label,
                             "amount": str(review.amount), "currency": review.currency, "rule": review.rule,
                             "before": "held", "after": status, **({"note": note} if note else {})}, ip=ip)
            count += 1
    return count


def approve(ids, actor, ip=""):
    """Approve held deposits (each completes in its own database transaction); how many.
    A deposit whose every payment was marked fraud meanwhile is not approved (refuse it)."""
    return _decide(ids, "approved", lambda review, now: activation.complete_held(review, now), actor, ip,
                   allowed=_has_normal_payment)


def _has_normal_payment(review_id):
    review = DepositReview.get_or_none(DepositReview.id == review_id)
    if review is None:
        return False
    where = (Transaction.stockpiling == review.stockpiling_id if review.stockpiling_id
             else Transaction.id == review.transaction_id)
    return Transaction.select().where(where & (Transaction.originality == "normal")).exists()


def refuse(ids, actor, ip="", note=""):
    """Refuse held deposits; how many."""
    return _decide(ids, "refused", lambda review, now: activation.refuse_held(review), actor, ip, note)
