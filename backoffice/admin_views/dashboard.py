"""The dashboard (the back office's index page) and ``/admin/dashboard/stats.json``.

The page also counts the period's activation attempts by reason (SPEC §11), each
count linking to Payments → Activation attempts filtered by that reason and period."""
import datetime

from flask import jsonify, request
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user

from .. import labels
from ..i18n import viewer_timezone_name, zone
from ..models import ATTEMPT_REASONS, ExchangeRate, Merchant, PaymentSystem
from ..money import to_str
from ..services import attempts, ledger, stats_read
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
        raise FilterError(name, _("must be a date (YYYY-MM-DD)")) from None


def _flag(name):
    return request.args.get(name, "").lower() in ("1", "true", "on", "yes")


def dashboard_filters():
    """The filters of the request, checked, with the SPEC defaults (last 30 days in the
    viewer's zone, USD, group by creation). Merchant users always get their merchant."""
    tz = zone(viewer_timezone_name())
    today = datetime.datetime.now(tz).date()
    date_to = _date("date_to", today)
    date_from = _date("date_from", date_to - datetime.timedelta(days=DEFAULT_DAYS - 1))
    if date_from > date_to:
        raise FilterError("date_from", _("must not be after the end date"))
    if (date_to - date_from).days >= MAX_DAYS:
        raise FilterError("date_from", _("the period can be at most %(n)d days", n=MAX_DAYS))
    group_by = request.args.get("group_by") or "created"
    if group_by not in stats_read.DATE_KINDS:
        raise FilterError("group_by", _("must be created, activated or stockpiling_end"))
    currencies = known_currencies()
    currency = (request.args.get("currency") or "").upper() or None
    if currency and currency not in currencies:
        raise FilterError("currency", _("unknown currency"))
    if is_operator():
        raw = request.args.get("merchant") or ""
        merchant_id = None
        if raw:
            if not raw.isdigit() or not Merchant.select().where(Merchant.id == int(raw)).exists():
                raise FilterError("merchant", _("unknown merchant"))
            merchant_id = int(raw)
        default_display = "USD"
    else:
        merchant_id = current_user.merchant_id
        default_display = current_user.merchant.default_display_currency or "USD"
    display_in = (request.args.get("display_in") or default_display).upper()
    if display_in not in currencies | {"USD"}:
        raise FilterError("display_in", _("unknown currency"))
    return dict(merchant_id=merchant_id, date_from=date_from, date_to=date_to, tz=tz, today=today,
                currency=currency, display_in=display_in, group_by=group_by, details=_flag("details"),
                completed_stockpiling=_flag("completed_stockpiling"))


def known_currencies():
    return {ps.currency for ps in PaymentSystem.select(PaymentSystem.currency).distinct()} | {
        r.currency for r in ExchangeRate.select(ExchangeRate.currency).distinct()}


def merchant_balances(merchant_id):
    """The available balance per currency of one merchant (None for "all merchants")."""
    if merchant_id is None:
        return None
    return [{"currency": cur, "amount": to_str(amount)} for cur, amount in ledger.balances(merchant_id).items()]


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


class DashboardView(SecureIndexView):
    def _attempts_view(self):
        return next((v for v in self.admin._views if isinstance(v, ActivationAttemptView)), None)

    @expose("/")
    def index(self):
        try:
            filters = dashboard_filters()
            error = None
        except FilterError as exc:
            filters, error = None, exc
        merchants = list(Merchant.select().order_by(Merchant.name)) if is_operator() else []
        balance = merchant_balances(filters["merchant_id"]) if filters else None
        attempt_rows = attempt_counts(filters, self._attempts_view()) if filters else None
        return self.render("admin/dashboard.html", filters=filters, error=error, merchants=merchants,
                           currencies=sorted(known_currencies()), args=request.args, balances=balance,
                           attempt_counts=attempt_rows)

    @expose("/dashboard/stats.json")
    def stats(self):
        try:
            filters = dashboard_filters()
        except FilterError as exc:
            body = {"error": {"code": "invalid_request", "message": str(exc.message),
                              "details": [{"field": exc.field, "message": str(exc.message)}]}}
            return jsonify(body), 400
        result = stats_read.dashboard(**filters)
        result["merchant"] = filters["merchant_id"]
        return jsonify(result)
