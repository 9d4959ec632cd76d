"""Payments → Balance: a merchant's statement (SPEC §9), its CSV, operators' adjustments.

* Merchant users (owner and staff) see their own merchant, whatever the URL asks;
  operators choose one (``?merchant=<id>``).
* Filters: ``currency`` (one of the merchant's balances), ``date_from`` / ``date_to``
  (whole days of the viewer's time zone, this month by default). A bad value is shown
  beside its field; the rest of the page (the current balances, the choices) stays.
* The statement: the opening balance, every entry with its running balance, the
  closing balance. :func:`statement_table` builds its rows once, for the page and for
  the CSV alike (so the file holds exactly what the page shows); its amounts stay
  ``Decimal`` until then: the page writes them in the viewer's language ("1 250,50"),
  the CSV in the machine format ("1250.50").
* ``/adjust/`` (operators only, CSRF-protected): ``services.ledger.adjust``.
"""
import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

from flask import Response, abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length, Optional

from .. import csv_safe
from ..i18n import format_datetime, money_text, viewer_timezone_name, zone
from ..labels import actor_label
from ..models import Merchant
from ..money import to_str
from ..services import ledger
from ..timeutil import local_midnight_utc
from .amounts import AmountField
from .base import SecureBaseView, clean_pk, is_operator
from .zone_names import zone_label

MAX_DAYS = 366
MERCHANT_CHOICES_LIMIT = 1000

KIND_LABELS = {
    "deposit": _l("Deposit"),
    "commission": _l("Commission"),
    "deposit_reversal": _l("Deposit reversal"),
    "withdrawal_hold": _l("Withdrawal requested (held)"),
    "withdrawal_release": _l("Withdrawal hold released"),
    "withdrawal_payout": _l("Withdrawal paid out"),
    "adjustment": _l("Adjustment"),
}
SOURCE_LABELS = {
    "transaction": _l("Transaction"),
    "stockpiling": _l("Stockpiling"),
    "withdrawal": _l("Withdrawal"),
    "adjustment": _l("Adjustment"),
}



class AdjustmentForm(FlaskForm):
    # The choices are checked by the service (its message names the field).
    merchant = SelectField(_l("Merchant"), validate_choice=False)
    currency = SelectField(_l("Currency"), validate_choice=False)
    # Typed as people write amounts in their language ("-1 250,50"); the service checks the rest.
    amount = AmountField(_l("Amount (negative to debit)"), validators=[Optional()], allow_negative=True)
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=ledger.REASON_MAX_LENGTH)])


# -- the filters ---------------------------------------------------------------------------

@dataclass
class Filters:
    merchant: object  # a Merchant, or None (an operator has not chosen one)
    currency: str
    currencies: list
    date_from: datetime.date
    date_to: datetime.date
    tz: object
    errors: dict
    values: dict  # what the filter fields show

    @property
    def valid(self):
        return not self.errors and self.merchant is not None and self.currency is not None

    def args(self, **extra):
        """The query arguments that select this statement (links, the CSV, the form's action)."""
        out = {"currency": self.currency, "date_from": self.date_from.isoformat(),
               "date_to": self.date_to.isoformat()}
        if is_operator() and self.merchant is not None:
            out["merchant"] = self.merchant.id
        out.update(extra)
        return {key: value for key, value in out.items() if value is not None}


def _date(args, name, default, errors, values):
    raw = (args.get(name) or "").strip()
    values[name] = raw or default.isoformat()
    if not raw:
        return default
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError(raw)
        value = datetime.date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("must be a date (YYYY-MM-DD)")
        return None
    if not 1900 <= value.year <= 9998:
        errors[name] = _("must be a date from 1900 to 9998")
        return None
    return value


def read_filters(args):
    """The statement the request asks for, checked: each bad value named in ``errors``."""
    errors, values = {}, {}
    tz = zone(viewer_timezone_name())
    if is_operator():
        raw = (args.get("merchant") or "").strip()
        values["merchant"] = raw
        merchant = None
        if raw:
            merchant_id = clean_pk(Merchant.id, raw)
            merchant = Merchant.get_or_none(Merchant.id == merchant_id) if merchant_id is not None else None
            if merchant is None:
                errors["merchant"] = _("unknown merchant")
    else:
        merchant = current_user.merchant  # never another merchant, whatever the URL says
    currencies = [row.currency for row in ledger.balance_rows(merchant)] if merchant is not None else []
    currency = (args.get("currency") or "").strip().upper()
    values["currency"] = currency
    if currency and currency not in currencies:
        if merchant is not None:
            errors["currency"] = _("this merchant has no balance in this currency")
        currency = None
    elif not currency:
        currency = currencies[0] if currencies else None
    today = datetime.datetime.now(tz).date()
    date_from = _date(args, "date_from", today.replace(day=1), errors, values)
    date_to = _date(args, "date_to", today, errors, values)
    if date_from is not None and date_to is not None:
        if date_from > date_to:
            errors["date_from"] = _("must not be after the end date")
        elif (date_to - date_from).days >= MAX_DAYS:
            errors["date_from"] = _("the period can be at most %(n)d days", n=MAX_DAYS)
    return Filters(merchant, currency, currencies, date_from or today.replace(day=1), date_to or today, tz,
                   errors, values)


# -- the statement's rows: the page and the CSV -------------------------------------------

@dataclass
class Row:
    kind: str  # "opening", "entry", "closing"
    cells: list


NUMERIC_COLUMNS = (3, 4, 5, 6)


def statement_table(statement, date_from, date_to, tz, operator_viewer, zone_name=None):
    """``(header, rows)`` of a statement: the opening balance, one row per entry, the
    closing balance. Every cell is text, dates in ``tz``, except the amounts
    (``NUMERIC_COLUMNS``): ``Decimal``, written by the page or the CSV (``write_csv``)."""
    header = [_("Date (%(zone)s)", zone=zone_name or tz.key), _("Kind"), _("Currency"), _("Amount"), _("Hold"),
              _("Available"), _("On hold"), _("Source"), _("Source ID"), _("Memo"), _("Booked by")]
    currency = statement.currency
    rows = [Row("opening", [date_from.isoformat(), _("Opening balance"), currency, "", "",
                            statement.opening[0], statement.opening[1], "", "", "", ""])]
    for entry in statement.entries:
        rows.append(Row("entry", [
            format_datetime(entry.created_at),
            str(KIND_LABELS.get(entry.kind, entry.kind)),
            entry.currency,
            entry.amount,
            entry.hold,
            entry.available_after,
            entry.on_hold_after,
            str(SOURCE_LABELS.get(entry.source_type, entry.source_type)),
            str(entry.source_id),
            entry.memo or "",
            actor_label(entry.actor, operator_viewer),
        ]))
    rows.append(Row("closing", [date_to.isoformat(), _("Closing balance"), currency, "", "",
                                statement.closing[0], statement.closing[1], "", "", "", ""]))
    return [str(cell) for cell in header], rows


def write_csv(header, rows):
    """The statement as a CSV file: every cell through ``csv_safe`` (SPEC §14, formula
    injection), as every export of the back office."""
    return csv_safe.text(header, ([to_str(cell) if isinstance(cell, Decimal) else cell for cell in row.cells]
                                  for row in rows))


def period_bounds(filters):
    """The period as naive UTC: from the first day's local midnight to the midnight after the last."""
    return (local_midnight_utc(filters.date_from, filters.tz),
            local_midnight_utc(filters.date_to + datetime.timedelta(days=1), filters.tz))


class BalanceView(SecureBaseView):
    """Who may open it and adjust: ``backoffice.roles`` ("balance")."""

    def _statement(self, filters):
        start, end = period_bounds(filters)
        return ledger.statement(filters.merchant, filters.currency, start, end)

    def _adjustment_form(self, filters, formdata=None):
        data = {"merchant": str(filters.merchant.id) if filters.merchant else "", "currency": filters.currency or ""}
        form = AdjustmentForm(formdata=formdata, data=data)
        form.merchant.choices = [(str(m.id), m.name) for m in self._merchants()]
        currencies = ledger.adjustment_currencies(filters.merchant) if filters.merchant else []
        form.currency.choices = [(c, c) for c in currencies]
        return form

    def _merchants(self):
        return list(Merchant.select(Merchant.id, Merchant.name, Merchant.active).order_by(Merchant.name)
                    .limit(MERCHANT_CHOICES_LIMIT))

    def _render(self, filters, adjustment_form=None, status=200):
        operator = is_operator()
        context = dict(filters=filters, operator=operator, merchants=self._merchants() if operator else [],
                       balances=ledger.balance_rows(filters.merchant) if filters.merchant is not None else [],
                       header=None, rows=None, numeric_columns=NUMERIC_COLUMNS, adjustment_form=None)
        if filters.valid:
            statement = self._statement(filters)
            context["statement"] = statement
            # (the page names the zone as people read it, "Дакка, UTC+06:00"; the CSV by its IANA name)
            context["header"], context["rows"] = statement_table(statement, filters.date_from, filters.date_to,
                                                                 filters.tz, operator, zone_label(filters.tz.key))
        if operator and filters.merchant is not None:
            context["adjustment_form"] = adjustment_form or self._adjustment_form(filters)
        return self.render("admin/ledger.html", **context), status

    @expose("/")
    def index(self):
        return self._render(read_filters(request.args))

    @expose("/export/csv/")
    def export(self):
        filters = read_filters(request.args)
        if not filters.valid:
            return self._render(filters, status=400)
        header, rows = statement_table(self._statement(filters), filters.date_from, filters.date_to, filters.tz,
                                       is_operator())
        name = (f"balance-{filters.merchant.id}-{filters.currency}-{filters.date_from.isoformat()}-"
                f"{filters.date_to.isoformat()}.csv")
        return Response(write_csv(header, rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @expose("/adjust/", methods=("POST",))
    def adjust(self):
        if not is_operator():
            abort(403)
        merchant_id = clean_pk(Merchant.id, request.form.get("merchant"))
        posted_merchant = Merchant.get_or_none(Merchant.id == merchant_id) if merchant_id is not None else None
        filters = read_filters(request.args)
        if posted_merchant is not None and (filters.merchant is None or filters.merchant.id != posted_merchant.id):
            filters = read_filters({"merchant": str(posted_merchant.id), "date_from": request.args.get("date_from", ""),
                                    "date_to": request.args.get("date_to", "")})
        form = self._adjustment_form(filters, formdata=request.form)
        if not form.validate_on_submit():
            return self._render(filters, form, status=400)
        try:
            entry = ledger.adjust(merchant_id, form.currency.data, form.amount.data, form.reason.data,
                                  current_user.id, ip=request.remote_addr or "")
        except ledger.LedgerError as exc:
            for name, message in exc.fields.items():
                target = getattr(form, name, None)
                if target is not None and hasattr(target, "errors"):
                    target.errors = list(target.errors) + [message]
                else:
                    flash(message, "error")
            return self._render(filters, form, status=400)
        flash(_("The adjustment of %(amount)s is booked: available is now %(available)s.",
                amount=money_text(entry["amount"], entry["currency"]),
                available=money_text(entry["available_after"], entry["currency"])), "success")
        # This month's statement (the default period) shows the new entry.
        return redirect(url_for(".index", merchant=posted_merchant.id, currency=entry["currency"]))


__all__ = ["BalanceView", "read_filters", "statement_table", "write_csv"]
