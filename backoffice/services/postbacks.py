"""Postbacks: building the events and writing them to the outbox.

Every postback is first a row of the Postback table, written in the same database
transaction as the change it reports (transactional outbox, SPEC §7). Delivery is
the job of ``backoffice.jobs`` and never happens inside a web request.
"""
import datetime
import json
import secrets

from ..models import Postback, utcnow
from ..money import to_str


def new_event_id():
    return "evt_" + secrets.token_hex(12)


def iso(value):
    """A stored naive-UTC datetime as ISO-8601 with an explicit Z."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def create_event(merchant, event_type, data, object_type=None, object_id=None):
    """Write an event to the outbox; the payload is frozen here and never rebuilt."""
    now = utcnow()
    event_id = new_event_id()
    payload = {"id": event_id, "type": event_type, "created_at": iso(now), "data": data}
    return Postback.create(
        event_id=event_id,
        merchant=getattr(merchant, "id", merchant),
        event_type=event_type,
        object_type=object_type,
        object_id=object_id,
        payload=json.dumps(payload, separators=(",", ":"), sort_keys=True),
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )


def deposit_completed_data(merchant, payment_system, label, order_id, currency, transactions, stockpiling=None):
    """The ``data`` of a ``deposit.completed`` event (SPEC §7)."""
    total = sum((t.amount for t in transactions), start=type(transactions[0].amount)("0"))
    commission = sum((t.commission for t in transactions), start=type(transactions[0].amount)("0"))
    return {
        "merchant_id": getattr(merchant, "id", merchant),
        "label": label,
        "order_id": order_id,
        "payment_system": payment_system.code,
        "currency": currency,
        "amount": to_str(total),
        "commission": to_str(commission),
        "stockpiling_id": stockpiling.id if stockpiling is not None else None,
        "transactions": [
            {
                "id": t.id,
                "transaction_number": t.transaction_number,
                "amount": to_str(t.amount),
                "created_at": iso(t.created_at),
                "activated_at": iso(t.activated_at),
            }
            for t in transactions
        ],
    }
