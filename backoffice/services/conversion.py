"""Currency conversion: exchange rates to USD, as in force on a given day.

A rate applies from its ``effective_date`` until the next one of its currency; two
currencies convert through USD. Loaded once per use (a dashboard request), then
looked up in memory.
"""
import bisect
from collections import defaultdict
from decimal import Decimal

from ..models import ExchangeRate


class Rates:
    """Rates to USD by currency, each a list of (effective date, rate) sorted by date."""

    def __init__(self, currencies):
        self.table = defaultdict(list)
        for row in (ExchangeRate.select().where(ExchangeRate.currency.in_(list(currencies)))
                    .order_by(ExchangeRate.currency, ExchangeRate.effective_date)):
            self.table[row.currency].append((row.effective_date, row.rate_to_usd))
        self.dates = {cur: [d for d, _ in rows] for cur, rows in self.table.items()}

    def to_usd(self, currency, day):
        if currency == "USD":
            return Decimal(1)
        dates = self.dates.get(currency)
        if not dates:
            return None
        i = bisect.bisect_right(dates, day) - 1
        return self.table[currency][i][1] if i >= 0 else None
