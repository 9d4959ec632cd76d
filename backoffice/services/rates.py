"""Exchange rates: importing a CSV of rates to USD (all or nothing)."""
import csv
import datetime
import io
import re
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _

from ..db import db
from ..errors import RuleError
from ..models import ExchangeRate

COLUMNS = ("currency", "rate_to_usd", "effective_date")


class RateImportError(RuleError):
    """A refused file; ``errors`` lists every fault as (line, field, message)."""

    def __init__(self, errors):
        super().__init__(fields={f"line {line}, {field}": message for line, field, message in errors})
        self.errors = errors


def parse_rates(text):
    """Rows of (currency, Decimal rate, date); every fault reported with line and field."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RateImportError([(1, c, _("column missing")) for c in missing])
    rows, errors = [], []
    for line, row in enumerate(reader, start=2):
        currency = (row.get("currency") or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            errors.append((line, "currency", _("must be a 3-letter currency code")))
        try:
            rate = Decimal((row.get("rate_to_usd") or "").strip())
            if not rate.is_finite() or rate <= 0 or rate > Decimal("1000000"):
                raise InvalidOperation
        except InvalidOperation:
            errors.append((line, "rate_to_usd", _("must be a positive decimal number")))
            rate = None
        try:
            day = datetime.date.fromisoformat((row.get("effective_date") or "").strip())
        except ValueError:
            errors.append((line, "effective_date", _("must be a date (YYYY-MM-DD)")))
            day = None
        rows.append((currency, rate, day))
    if errors:
        raise RateImportError(errors)
    return rows


def import_rates(text):
    """Insert or replace the rates of a CSV file; returns how many rows were written."""
    rows = parse_rates(text)
    with db.atomic():
        for currency, rate, day in rows:
            (ExchangeRate.insert(currency=currency, rate_to_usd=rate, effective_date=day)
             .on_conflict(conflict_target=[ExchangeRate.currency, ExchangeRate.effective_date],
                          update={ExchangeRate.rate_to_usd: rate})
             .execute())
    return len(rows)
