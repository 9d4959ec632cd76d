"""Merchant API: the ledger (SPEC §9).

* ``GET /api/v1/balances``: the caller's balance in every currency it has one in
  (``{"items": [...], "next": null}``: one short page).
* ``GET /api/v1/balance/entries``: the ledger entries of one currency, oldest first
  (booking order), ``from`` / ``to`` as whole days of the merchant's time zone (both
  included, as ``GET /api/v1/transactions`` reads its dates); ``cursor`` is the
  ``next`` of the previous page: the id of its last entry, stable because entries
  are never changed or deleted.

The rules (what a page holds, where a cursor goes on) are ``services.ledger``'s.
"""
import datetime
import re

from flask import jsonify, request
from flask_babel import gettext as _

from ..i18n import zone
from ..models import LEDGER_KINDS
from ..money import to_str
from ..services import ledger
from ..timeutil import iso_z, local_midnight_utc
from .base import bp, merchant_from_api_key
from .openapi import document, error_responses, list_schema, schema
from .validation import ID_CURSOR_PATTERN, Params

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
CURRENCY_PATTERN = r"[A-Z]{3}"
KNOWN = {"currency", "from", "to", "cursor", "limit"}


def balance_json(row):
    return {"currency": row.currency, "available": to_str(row.available), "on_hold": to_str(row.on_hold),
            "updated_at": iso_z(row.updated_at)}


def entry_json(entry):
    return {
        "id": entry.id,
        "created_at": iso_z(entry.created_at),
        "kind": entry.kind,
        "currency": entry.currency,
        "amount": to_str(entry.amount),
        "hold": to_str(entry.hold),
        "available_after": to_str(entry.available_after),
        "on_hold_after": to_str(entry.on_hold_after),
        "source": {"type": entry.source_type, "id": entry.source_id},
        "memo": entry.memo or "",
    }


@bp.route("/balances", methods=["GET"])
def list_balances():
    merchant = merchant_from_api_key()
    Params(set()).done()
    return jsonify({"items": [balance_json(row) for row in ledger.balance_rows(merchant)], "next": None})


def _currency(params):
    value = params.string("currency", max_length=3)
    if value is None:
        if "currency" not in {e["field"] for e in params.errors}:
            params.fail("currency", _("is required"))
        return None
    if not re.fullmatch(CURRENCY_PATTERN, value):
        params.fail("currency", _("must be a three-letter currency code in capitals, such as BDT"))
        return None
    return value


def _no_empty_values(params):
    """A parameter sent without a value is a mistake here (``to=``), not a parameter left out."""
    for name in sorted(KNOWN):
        if name in request.args and request.args.get(name) == "":
            params.fail(name, _("must not be empty"))


@bp.route("/balance/entries", methods=["GET"])
def list_entries():
    merchant = merchant_from_api_key()
    params = Params(KNOWN)
    _no_empty_values(params)
    currency = _currency(params)
    first, last = params.date("from"), params.date("to")
    if first is not None and last is not None and first > last:
        params.fail("from", _("must not be after to"))
    limit = params.integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    after_id = params.id_cursor()
    params.done()
    tz = zone(merchant.timezone)
    start = local_midnight_utc(first, tz) if first is not None else None
    end = local_midnight_utc(last + datetime.timedelta(days=1), tz) if last is not None else None
    rows, more = ledger.entries_page(merchant, currency, start, end, after_id, limit)
    return jsonify({"items": [entry_json(e) for e in rows], "next": str(rows[-1].id) if more else None})


# -- the OpenAPI document ------------------------------------------------------------------

schema("SignedMoney", {"type": "string", "pattern": r"^-?[0-9]{1,16}\.[0-9]{2}$", "example": "-25.00",
                       "description": "An amount with exactly 2 decimals; negative where money leaves"})
schema("Balance", {
    "type": "object",
    "required": ["currency", "available", "on_hold", "updated_at"],
    "properties": {
        "currency": {"type": "string", "example": "BDT"},
        "available": {"allOf": [{"$ref": "#/components/schemas/SignedMoney"}],
                      "description": "What may be withdrawn now (below zero after a reversal)"},
        "on_hold": {"allOf": [{"$ref": "#/components/schemas/SignedMoney"}],
                    "description": "Requested withdrawals not decided yet"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
})
list_schema("BalanceList", "Balance", next_description="Always null: every balance is on one page.")
schema("LedgerEntry", {
    "type": "object",
    "required": ["id", "created_at", "kind", "currency", "amount", "hold", "available_after", "on_hold_after",
                 "source", "memo"],
    "properties": {
        "id": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "kind": {"type": "string", "enum": list(LEDGER_KINDS)},
        "currency": {"type": "string", "example": "BDT"},
        "amount": {"allOf": [{"$ref": "#/components/schemas/SignedMoney"}],
                   "description": "What the entry did to available"},
        "hold": {"allOf": [{"$ref": "#/components/schemas/SignedMoney"}],
                 "description": "What the entry did to on_hold"},
        "available_after": {"$ref": "#/components/schemas/SignedMoney"},
        "on_hold_after": {"$ref": "#/components/schemas/SignedMoney"},
        "source": {
            "type": "object",
            "required": ["type", "id"],
            "properties": {
                "type": {"type": "string", "enum": list(ledger.SOURCE_TYPES)},
                "id": {"type": "integer", "description": "The transaction, stockpiling, withdrawal or adjustment"},
            },
        },
        "memo": {"type": "string"},
    },
})
list_schema("LedgerEntryList", "LedgerEntry")

document("/api/v1/balances", "get", {
    "summary": "Your balance in each currency",
    "security": [{"merchantApiKey": []}],
    "responses": {
        "200": {"description": "Every balance", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/BalanceList"}}}},
        **error_responses(400, 401, 403),
    },
})


def _query(name, description, required=False, **schema_):
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema_}


document("/api/v1/balance/entries", "get", {
    "summary": "Your ledger entries in one currency, oldest first",
    "security": [{"merchantApiKey": []}],
    "parameters": [
        _query("currency", "The balance's currency", required=True, type="string",
               pattern=f"^{CURRENCY_PATTERN}$"),
        _query("from", "Entries on or after this day (the merchant's time zone)", type="string", format="date"),
        _query("to", "Entries on or before this day (the merchant's time zone)", type="string", format="date"),
        _query("limit", "Page size", type="integer", minimum=1, maximum=MAX_LIMIT, default=DEFAULT_LIMIT),
        _query("cursor", "The next value of the previous page", type="string", pattern=f"^{ID_CURSOR_PATTERN}$"),
    ],
    "responses": {
        "200": {"description": "A page of entries", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/LedgerEntryList"}}}},
        **error_responses(400, 401, 403),
    },
})
