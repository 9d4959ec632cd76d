"""The dashboard (the back office's index page) and ``/admin/dashboard/stats.json``.

The page also counts the period's activation attempts by reason (SPEC §11), each
count linking to Payments → Activation attempts filtered by that reason and period,
and (SPEC §12) what waits for people: for operators, the wallets that need attention
(linking to the Wallets list filtered so) and the open appeals of every merchant; for
merchant users, their own open appeals."""
import datetime
from decimal import Decimal

from flask import current_app, jsonify, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user

from .. import labels
from ..i18n import format_number, money_text, viewer_locale, viewer_timezone_name, zone
from ..models import ATTEMPT_REASONS, ExchangeRate, Merchant, MerchantPaymentSystem, PaymentSystem, utcnow
from ..money import to_str
from ..services import appeals, attempts, ledger, stats_read
from ..services import wallets as wallet_service
from ..timeutil import local_midnight_utc
from .attempts import ActivationAttemptView
from .base import SecureIndexView, is_operator

DEFAULT_DAYS = 30
MAX_DAYS = 366


class FilterError(ValueError):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def _date(name, default):
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise FilterError(name, _("Give a date as YYYY-MM-DD.")) from None


def _flag(name):
    return request.args.get(name, "").lower() in ("1", "true", "on", "yes")


def _checked(errors, read):
    """``read()``, or None with its :class:`FilterError` kept in ``errors`` (by field)."""
    try:
        return read()
    except FilterError as exc:
        errors.setdefault(exc.field, exc.message)
        return None


def _merchant_filter():
    raw = request.args.get("merchant") or ""
    if not raw:
        return None
    if not raw.isdigit() or not Merchant.select().where(Merchant.id == int(raw)).exists():
        raise FilterError("merchant", _("Unknown merchant."))
    return int(raw)


def _choice(name, value, allowed, message):
    if value not in allowed:
        raise FilterError(name, message)
    return value


def dashboard_filters():
    """The filters of the request, each checked on its own, with the SPEC defaults (last
    30 days in the viewer's zone, USD, group by creation). Merchant users always get
    their merchant.

    Returns ``(filters, errors)``: ``errors`` maps each bad field to its message (in the
    order of the form); in ``filters`` a bad field's value is None, every other value
    stands, so the page keeps what does not depend on the bad one (the balance needs
    the merchant only; the statistics need every filter; the attempts, the merchant and
    the dates)."""
    errors = {}
    tz = zone(viewer_timezone_name())
    today = datetime.datetime.now(tz).date()
    if is_operator():
        merchant_id = _checked(errors, _merchant_filter)
        default_display = "USD"
    else:
        merchant_id = current_user.merchant_id
        default_display = current_user.merchant.default_display_currency or "USD"
    country = (request.args.get("country") or "").strip().upper() or None
    if country:  # the manual's country filter: the payment systems that serve it (issue 22)
        country = _checked(errors, lambda: _choice("country", country, set(stats_read.countries()),
                                                   _("Unknown country.")))
    currencies = known_currencies()
    currency = (request.args.get("currency") or "").upper() or None
    if currency:
        currency = _checked(errors, lambda: _choice("currency", currency, currencies, _("Unknown currency.")))
    display_in = (request.args.get("display_in") or default_display).upper()
    display_in = _checked(errors, lambda: _choice("display_in", display_in, currencies | {"USD"},
                                                  _("Unknown currency.")))
    group_by = request.args.get("group_by") or "created"
    group_by = _checked(errors, lambda: _choice("group_by", group_by, stats_read.DATE_KINDS,
                                                _("Choose creation, activation or stockpiling end.")))
    date_to = _checked(errors, lambda: _date("date_to", today))
    date_from = _checked(errors, lambda: _date("date_from", (date_to or today)
                                               - datetime.timedelta(days=DEFAULT_DAYS - 1)))
    if date_from is not None and date_to is not None:
        if date_from > date_to:
            errors["date_from"] = _("The start date must not be after the end date.")
        elif (date_to - date_from).days >= MAX_DAYS:
            errors["date_from"] = _("The period can be at most %(n)d days.", n=MAX_DAYS)
        if "date_from" in errors:
            date_from = None
    # The errors in the order of the form (the first is the one a JSON answer names first).
    order = ("merchant", "country", "currency", "display_in", "group_by", "date_from", "date_to")
    errors = {name: errors[name] for name in order if name in errors}
    filters = dict(merchant_id=merchant_id, date_from=date_from, date_to=date_to, tz=tz, today=today,
                   currency=currency, display_in=display_in, group_by=group_by, details=_flag("details"),
                   completed_stockpiling=_flag("completed_stockpiling"), country=country)
    return filters, errors


def country_choices():
    """The country filter's options: each country payment systems serve, named in the
    viewer's language (Babel's territory names), by name."""
    names = viewer_locale().territories
    return sorted(((code, names.get(code, code)) for code in stats_read.countries()), key=lambda pair: pair[1])


def known_currencies():
    return {ps.currency for ps in PaymentSystem.select(PaymentSystem.currency).distinct()} | {
        r.currency for r in ExchangeRate.select(ExchangeRate.currency).distinct()}


def merchant_balances(merchant_id):
    """The available balance per currency of one merchant (None for "all merchants"). A
    merchant with no balance yet reads zero in the currencies of its payment systems (its
    display currency when it has none): a figure is never a bare 0 (issue 22, point 7)."""
    if merchant_id is None:
        return None
    held = [{"currency": cur, "amount": to_str(amount)} for cur, amount in ledger.balances(merchant_id).items()]
    return held or [{"currency": cur, "amount": to_str(Decimal(0))} for cur in _zero_currencies(merchant_id)]


def _zero_currencies(merchant_id):
    systems = sorted({cur for (cur,) in MerchantPaymentSystem.select(PaymentSystem.currency).join(PaymentSystem)
                      .where(MerchantPaymentSystem.merchant == merchant_id).distinct().tuples()})
    return systems or [Merchant.select(Merchant.default_display_currency).where(Merchant.id == merchant_id)
                       .scalar() or "USD"]


# The summary's figures of stats.json, as the page shows them (``figures``).
FIGURES = ("period", "today", "withdrawals_period")


def summary_figures(summary, zero_currency):
    """Each figure of the summary as people read it (issue 22, point 7): per currency,
    the amount with its currency and the count, in the viewer's language (``text``); an
    empty figure is zero in ``zero_currency`` (the currency filter, else the display
    currency), never a bare 0 nor a blank. The machine fields stay as the summary has them."""
    figures = {}
    for name in FIGURES:
        rows = summary.get(name) or [{"currency": zero_currency, "amount": to_str(Decimal(0)), "count": 0}]
        figures[name] = [dict(row, text=f"{money_text(row['amount'], row['currency'])} · {format_number(row['count'])}")
                         for row in rows]
    return figures


def attempt_counts(filters, attempts_view):
    """The "Activation attempts by reason" panel (SPEC §11): for the period (calendar
    days of the viewer's zone) and scope of the dashboard, each reason with attempts:
    its label, its count and the Activation attempts list filtered by it. None when the
    viewer may not open that list."""
    if attempts_view is None or not attempts_view.is_accessible():
        return None
    tz = filters["tz"]
    start = local_midnight_utc(filters["date_from"], tz)
    end = local_midnight_utc(filters["date_to"] + datetime.timedelta(days=1), tz)
    counts = attempts.counts_by_reason(filters["merchant_id"], start, end)
    order = list(ATTEMPT_REASONS) + sorted(set(counts) - set(ATTEMPT_REASONS))
    return [{"reason": reason, "label": labels.ATTEMPT_REASON.get(reason, reason), "count": counts[reason],
             "url": attempts_view.list_url(reason=reason, date_from=filters["date_from"], date_to=filters["date_to"],
                                           merchant_id=filters["merchant_id"])}
            for reason in order if counts.get(reason)]


def attention_counts(wallets_view, appeals_view):
    """The "Needs attention" panel (SPEC §12): operators get the wallets that need
    attention and the open appeals of every merchant (whatever merchant the filters
    name: it is the operators' work queue), merchant users their merchant's open
    appeals; each count links to its list. Only what the viewer may open; None when
    nothing."""
    rows = []
    if is_operator():
        if wallets_view is not None and wallets_view.is_accessible():
            count = wallet_service.attention_count(utcnow(), wallet_service.silent_window(current_app.config))
            rows.append({"key": "wallets", "label": _("Wallets needing attention"), "count": count,
                         "url": wallets_view.attention_url()})
        merchant_id = None
    else:
        merchant_id = current_user.merchant_id
    if appeals_view is not None and appeals_view.is_accessible():
        rows.append({"key": "appeals", "label": _("Open appeals"), "count": appeals.open_count(merchant_id),
                     "url": url_for(f"{appeals_view.endpoint}.index")})
    return rows or None


class DashboardView(SecureIndexView):
    def _attempts_view(self):
        return next((v for v in self.admin._views if isinstance(v, ActivationAttemptView)), None)

    def _view(self, endpoint):
        return next((v for v in self.admin._views if v.endpoint == endpoint), None)

    @expose("/")
    def index(self):
        """A bad filter is shown beside its field; whatever does not depend on it stays:
        the balance (unless the merchant itself is unknown), the attempts by reason
        (unless the merchant or the period is bad); the statistics need every filter."""
        filters, errors = dashboard_filters()
        merchants = list(Merchant.select().order_by(Merchant.name)) if is_operator() else []
        balance = merchant_balances(filters["merchant_id"]) if "merchant" not in errors else None
        period_ok = not {"merchant", "date_from", "date_to"} & set(errors)
        attempt_rows = attempt_counts(filters, self._attempts_view()) if period_ok else None
        waiting = attention_counts(self._view("wallets"), self._view("appeals"))
        return self.render("admin/dashboard.html", filters=filters, errors=errors, merchants=merchants,
                           currencies=sorted(known_currencies()), countries=country_choices(), args=request.args,
                           balances=balance,
                           attempt_counts=attempt_rows, stats_ok=not errors, waiting=waiting)

    @expose("/dashboard/stats.json")
    def stats(self):
        filters, errors = dashboard_filters()
        if errors:
            body = {"error": {"code": "invalid_request", "message": str(next(iter(errors.values()))),
                              "details": [{"field": name, "message": str(text)} for name, text in errors.items()]}}
            return jsonify(body), 400
        result = stats_read.dashboard(**filters)
        result["merchant"] = filters["merchant_id"]
        result["figures"] = summary_figures(result["summary"], filters["currency"] or filters["display_in"])
        return jsonify(result)
