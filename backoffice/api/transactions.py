"""Merchant API: ``GET /api/v1/transactions`` (SPEC §6), the caller's transactions.

The Transactions screen's filters as query parameters (each an exact match, dates as
whole days of the merchant's time zone, both ends included), newest first, keyset
pagination: ``{"items": [...], "next": cursor-or-null}``; pass ``cursor=<next>`` for
the following page. Unknown or malformed parameters are a ``400`` naming each one.
"""
import datetime
import re

from flask import jsonify
from flask_babel import gettext as _
from peewee import JOIN

from ..i18n import zone
from ..models import (
    DIRECTIONS,
    ORIGINALITY,
    TRANSACTION_POSTBACK_STATUSES,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPES,
    PaymentSystem,
    Transaction,
    Wallet,
)
from ..timeutil import iso_z, local_midnight_utc
from .base import bp, merchant_from_api_key
from .connector import transaction_json
from .openapi import document, error_responses, list_schema, schema
from .validation import MAX_ID, Params

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
_CURSOR = re.compile(r"([0-9]{20})\.([0-9]{1,19})")
_CURSOR_TIME = "%Y%m%d%H%M%S%f"

# name -> (column, choices): exact-match filters
_EXACT = {
    "label": (Transaction.label, None),
    "transaction_number": (Transaction.transaction_number, None),
    "order_id": (Transaction.order_id, None),
    "counterparty": (Transaction.counterparty, None),
    "direction": (Transaction.direction, DIRECTIONS),
    "type": (Transaction.type, TRANSACTION_TYPES),
    "originality": (Transaction.originality, ORIGINALITY),
    "status": (Transaction.status, TRANSACTION_STATUSES),
    "postback_status": (Transaction.postback_status, TRANSACTION_POSTBACK_STATUSES),
}
_DATES = {"created": Transaction.created_at, "activated": Transaction.activated_at}
KNOWN = {"id", "payment_system", "limit", "cursor", *_EXACT, *(f"{d}_{end}" for d in _DATES for end in ("from", "to"))}


def encode_cursor(tx):
    return f"{tx.created_at.strftime(_CURSOR_TIME)}.{tx.id}"


def decode_cursor(params):
    value = params.string("cursor", max_length=40)
    if value is None:
        return None
    match = _CURSOR.fullmatch(value)
    try:
        if match is None or int(match.group(2)) > MAX_ID:
            raise ValueError(value)
        return datetime.datetime.strptime(match.group(1), _CURSOR_TIME), int(match.group(2))
    except ValueError:
        params.fail("cursor", _("is not a cursor this API returned"))
        return None


def list_item(tx):
    item = transaction_json(tx)
    item.update(
        type=tx.type,
        originality=tx.originality,
        wallet_number=tx.wallet.number if tx.wallet_id else None,
        stockpiling_id=tx.stockpiling_id,
        stockpiling_end_at=iso_z(tx.stockpiling_end_at),
    )
    return item


@bp.route("/transactions", methods=["GET"])
def list_transactions():
    merchant = merchant_from_api_key()
    params = Params(KNOWN)
    query = (Transaction.select(Transaction, PaymentSystem, Wallet)
             .join(PaymentSystem).switch(Transaction)
             .join(Wallet, JOIN.LEFT_OUTER).switch(Transaction)
             .where(Transaction.merchant == merchant.id))
    tx_id = params.integer("id", 1, MAX_ID)
    if tx_id is not None:
        query = query.where(Transaction.id == tx_id)
    code = params.string("payment_system", max_length=32)
    if code is not None:
        query = query.where(PaymentSystem.code == code)
    for name, (column, choices) in _EXACT.items():
        value = params.string(name, choices=choices)
        if value is not None:
            query = query.where(column == value)
    tz = zone(merchant.timezone)
    for name, column in _DATES.items():
        first, last = params.date(f"{name}_from"), params.date(f"{name}_to")
        if first is not None:
            query = query.where(column >= local_midnight_utc(first, tz))
        if last is not None:
            query = query.where(column < local_midnight_utc(last + datetime.timedelta(days=1), tz))
    limit = params.integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    cursor = decode_cursor(params)
    params.done()
    if cursor is not None:
        at, last_id = cursor
        query = query.where((Transaction.created_at < at)
                            | ((Transaction.created_at == at) & (Transaction.id < last_id)))
    rows = list(query.order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": [list_item(tx) for tx in rows], "next": encode_cursor(rows[-1]) if more else None})


schema("TransactionListItem", {
    "allOf": [{"$ref": "#/components/schemas/Transaction"}, {"type": "object", "properties": {
        "type": {"type": "string", "enum": list(TRANSACTION_TYPES)},
        "originality": {"type": "string", "enum": list(ORIGINALITY)},
        "wallet_number": {"type": "string", "nullable": True},
        "stockpiling_id": {"type": "integer", "nullable": True},
        "stockpiling_end_at": {"type": "string", "format": "date-time", "nullable": True},
    }}],
})
list_schema("TransactionList", "TransactionListItem")


def _query(name, description, **schema_):
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema_ or {"type": "string", "maxLength": 255}}


_parameters = [
    _query("id", "The transaction's id", type="integer", minimum=1, maximum=MAX_ID),
    _query("payment_system", "Payment system code", type="string", maxLength=32),
    _query("label", "The visitor's label"),
    _query("transaction_number", "The payment system's transaction number"),
    _query("order_id", "Your order id"),
    _query("counterparty", "The sender's or receiver's account"),
    _query("direction", "Direction", type="string", enum=list(DIRECTIONS)),
    _query("type", "auto: reported by a connector; manual: entered by an operator", type="string",
           enum=list(TRANSACTION_TYPES)),
    _query("originality", "Originality", type="string", enum=list(ORIGINALITY)),
    _query("status", "Status", type="string", enum=list(TRANSACTION_STATUSES)),
    _query("postback_status", "Postback status", type="string", enum=list(TRANSACTION_POSTBACK_STATUSES)),
] + [
    _query(f"{name}_{end}", f"{name.title()} on or {'after' if end == 'from' else 'before'} this day "
                            "(the merchant's time zone)", type="string", format="date")
    for name in _DATES for end in ("from", "to")
] + [
    _query("limit", "Page size", type="integer", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
    _query("cursor", "The next value of the previous page", type="string", pattern=_CURSOR.pattern),
]
document("/api/v1/transactions", "get", {
    "summary": "List your transactions (newest first), with the Transactions screen's filters",
    "security": [{"merchantApiKey": []}],
    "parameters": _parameters,
    "responses": {
        "200": {"description": "A page of transactions", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/TransactionList"}}}},
        **error_responses(400, 401, 403),
    },
})
