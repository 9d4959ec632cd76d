"""Wallets (SPEC §12): the operators' screen of receiving wallets, their limits, pauses
and health.

* **List** — merchant, payment system, identifier and number, the wallet's state
  (``services.wallets.health``: ok, paused, paused for silence, silent, at its limit,
  inactive) as a coloured badge, today's and this month's incoming totals against the
  daily and monthly limits (the merchant's day and month), the maximum per
  transaction, the last report (the viewer's zone) and whether it pauses itself when
  silent. The merchant (its time zone) and the payment system (its currency) come in
  the list's own query: health costs no query per row.
* **Filters** — "Needs attention" (``services.wallets.attention_condition``: silent,
  paused for silence, or at a limit today), the state, merchant, payment system,
  active, paused, auto-pause.
* **Form** — the wallet itself (merchant, payment system, identifier, number, active)
  and its operations (limits, paused, auto-pause). The operations are saved through
  ``services.wallets.update``: its checks (a limit is an amount above zero, the daily
  one not above the monthly one; the error names the field), its pause semantics (an
  operator's pause is "manual"; un-pausing lifts any) and its audit entry. Both parts
  are saved in one transaction, or neither.
* **Bulk** — the list actions pause, unpause, auto_pause_on, auto_pause_off, and
  ``limits`` (a page setting, leaving or clearing each of the three limits on every
  selected wallet), all through ``services.wallets.update``.
"""
from flask import current_app, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import BooleanEqualFilter, FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from peewee import IntegrityError
from wtforms import SelectField

from ..db import write_transaction
from ..models import Merchant, PaymentSystem, Wallet, utcnow
from ..i18n import format_money
from ..money import AmountError, amount_example, enter_an_amount, parse_amount, to_str
from ..services import wallets as service
from .amounts import AmountField
from .auditing import AuditedViewMixin, snapshot
from . import badges
from .base import MerchantFilter, ScopedModelView, payment_system_choices, scope_query
from .operators import COMMON_LABELS

# The wallet itself (the form's plain part) and its operations (services.wallets.update).
IDENTITY_FIELDS = ("merchant", "payment_system", "identifier", "number", "active")
OPERATION_FIELDS = service.CHANGEABLE  # the three limits, paused, auto_pause

HEALTH_STATES = {
    "ok": _l("OK"),
    "paused": _l("Paused"),
    "paused_silent": _l("Paused for silence"),
    "silent": _l("Silent"),
    "at_limit": _l("At limit"),
    "inactive": _l("Inactive"),
}
HEALTH_HINTS = {
    "silent": _l("The plugin showed it, but no payment was reported since: is the phone watched?"),
    "paused_silent": _l("Paused automatically for silence; the next report un-pauses it."),
    "at_limit": _l("Today's or this month's incoming total reached its limit: the plugin does not offer it."),
}

LIMIT_LABELS = {
    "max_per_transaction": _l("Maximum per transaction"),
    "daily_limit": _l("Daily limit"),
    "monthly_limit": _l("Monthly limit"),
}
WALLET_LABELS = dict(
    COMMON_LABELS,
    state=_l("State"), today=_l("Today / daily limit"), month=_l("This month / monthly limit"),
    last_report_at=_l("Last report"), auto_pause=_l("Pause when silent"), paused=_l("Paused"),
    paused_reason=_l("Paused by"), last_offered_at=_l("Last shown in the plugin"),
    offered_since=_l("Shown without a report since"), **LIMIT_LABELS,
)
PAUSED_BY = {"manual": _l("an operator"), "silent": _l("silence (automatic)")}
# The CSV's headings of the two totals: the file holds the totals alone (the limits have
# their own columns), in the machine format.
EXPORT_LABELS = {"today": _l("Incoming today"), "month": _l("Incoming this month")}


# -- health of the page's rows -------------------------------------------------------------------
def _now_and_window():
    """One "now" and the silence window for the whole request (every row and filter)."""
    if "wallet_now" not in g:
        g.wallet_now = utcnow()
    return g.wallet_now, service.silent_window(current_app.config)


def row_health(wallet):
    """``services.wallets.health`` of a listed wallet (its merchant joined: no query),
    once per request and wallet."""
    cache = g.setdefault("wallet_health", {})
    if wallet.id not in cache:
        now, window = _now_and_window()
        cache[wallet.id] = service.health(wallet, wallet.merchant.timezone, now, window)
    return cache[wallet.id]


def state_label(state):
    return HEALTH_STATES.get(state, state)


def _currency(wallet):
    return wallet.payment_system.currency


def _right(text):
    return Markup('<span class="d-block text-right text-nowrap">%s</span>') % text


def _state(view, context, model, name):
    """The wallet's state as a badge (``badges``: the one status formatter), a hint in its title."""
    state = row_health(model).state
    return badges.badge(state, HEALTH_STATES, badges.WALLET_STATE, title=HEALTH_HINTS.get(state), attribute="state")


def _against(total, limit, currency):
    limit_text = format_money(limit, currency) if limit is not None else _("no limit")
    return Markup("%s / %s") % (format_money(total, currency), limit_text)


def _today(view, context, model, name):
    return _right(_against(row_health(model).usage.today, model.daily_limit, _currency(model)))


def _month(view, context, model, name):
    return _right(_against(row_health(model).usage.month, model.monthly_limit, _currency(model)))


def _total_export(period):
    """The CSV's today's or this month's total: the machine format (its limit has its own column)."""

    def _format(view, context, model, name):
        return to_str(getattr(row_health(model).usage, period))

    return _format


def _limit(view, context, model, name):
    value = getattr(model, name)
    return _right(format_money(value, _currency(model)) if value is not None else _("no limit"))


def _yes_no(view, context, model, name):
    return _("yes") if getattr(model, name) else _("no")


def _paused_by(view, context, model, name):
    return PAUSED_BY.get(model.paused_reason, "") if model.paused else ""


# -- filters ---------------------------------------------------------------------------------------
class NeedsAttentionFilter(FilterEqual):
    """Silent, paused for silence, or at a daily or monthly limit today ("1"), or not ("0")."""

    def validate(self, value):
        return value in ("0", "1")

    def apply(self, query, value):
        now, window = _now_and_window()
        condition = service.attention_condition(now, window)
        return query.where(condition if value == "1" else service.sql_not(condition))

    def operation(self):
        return _l("is")


class StateFilter(FilterEqual):
    """One of the states of ``services.wallets.health``."""

    def validate(self, value):
        return value in HEALTH_STATES

    def apply(self, query, value):
        now, window = _now_and_window()
        return query.where(service.state_condition(value, now, window))

    def operation(self):
        return _l("is")


NEEDS_ATTENTION = NeedsAttentionFilter(column=Wallet.id, name=_l("Needs attention"),
                                       options=[("1", _l("yes")), ("0", _l("no"))])
STATE_FILTER = StateFilter(column=Wallet.paused_reason, name=_l("State"), options=list(HEALTH_STATES.items()))
MERCHANT_FILTER = MerchantFilter(column=Wallet.merchant)


# -- the bulk limits page ----------------------------------------------------------------------------
KEEP, SET, CLEAR = "keep", "set", "clear"


MODES = {KEEP: _l("Leave unchanged"), SET: _l("Set to"), CLEAR: _l("Clear (no limit)")}


def _limit_mode_field(label):
    return SelectField(label, default=KEEP)  # choices: per request (BulkLimitsForm.__init__)


def _limit_field(label):
    # Typed as people write amounts in their language ("1 250,50"); a limit is above zero.
    return AmountField(label, allow_zero=False)


class BulkLimitsForm(FlaskForm):
    max_per_transaction_mode = _limit_mode_field(LIMIT_LABELS["max_per_transaction"])
    max_per_transaction = _limit_field(LIMIT_LABELS["max_per_transaction"])
    daily_limit_mode = _limit_mode_field(LIMIT_LABELS["daily_limit"])
    daily_limit = _limit_field(LIMIT_LABELS["daily_limit"])
    monthly_limit_mode = _limit_mode_field(LIMIT_LABELS["monthly_limit"])
    monthly_limit = _limit_field(LIMIT_LABELS["monthly_limit"])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in service.LIMIT_FIELDS:
            self[f"{name}_mode"].choices = list(MODES.items())


def bulk_limit_values(form):
    """The changes the bulk limits form asks for (a Decimal, or None to clear), or
    None with each faulty field's error set on it."""
    values, ok = {}, True
    for name in service.LIMIT_FIELDS:
        mode, amount = form[f"{name}_mode"].data, form[name]
        typed = bool((amount.raw_data or [""])[0].strip())
        if mode == CLEAR:
            values[name] = None
        elif mode == SET:
            if amount.data is None:  # an AmountField: a Decimal above zero, or None when left empty
                amount.errors = list(amount.errors) + [enter_an_amount(str(amount.label.text))]
                ok = False
            else:
                values[name] = amount.data
        elif typed:
            form[name].errors = list(form[name].errors) + [
                _("Choose \"Set to\" to use this amount, or leave the field empty.")]
            ok = False
    if ok and not values:
        form.max_per_transaction_mode.errors = list(form.max_per_transaction_mode.errors) + [
            _("Choose at least one limit to set or clear.")]
        ok = False
    return values if ok else None


def field_errors(form, exc):
    """A service's field error(s) (``RuleError.fields``) onto the form's fields; an error
    naming no field of the form is flashed."""
    for name, message in (exc.fields or {"": exc.message}).items():
        field = form[name] if name in form else None
        if field is not None:
            field.errors = list(field.errors) + [str(message)]
        else:
            flash(str(message), "error")


class WalletView(AuditedViewMixin, ScopedModelView):
    list_template = "admin/wallets_list.html"
    named_filter_urls = True
    export_types = ["csv"]
    column_default_sort = ("id", False)
    column_list = ("id", "merchant", "payment_system", "identifier", "number", "state", "today", "month",
                   "max_per_transaction", "last_report_at", "auto_pause")
    column_details_list = ("id", "merchant", "payment_system", "identifier", "number", "active", "state", "today",
                           "month", "max_per_transaction", "daily_limit", "monthly_limit", "paused",
                           "paused_reason", "auto_pause", "last_report_at", "last_offered_at", "offered_since",
                           "created_at")
    column_export_list = column_list + ("active", "paused", "daily_limit", "monthly_limit")
    column_sortable_list = ("id", ("merchant", Merchant.name), ("payment_system", PaymentSystem.name),
                            "identifier", "number", "last_report_at")
    column_searchable_list = ("identifier", "number")
    column_labels = WALLET_LABELS
    column_formatters = {
        "state": _state, "today": _today, "month": _month,
        "max_per_transaction": _limit, "daily_limit": _limit, "monthly_limit": _limit,
        "auto_pause": _yes_no, "paused": _yes_no, "active": _yes_no, "paused_reason": _paused_by,
    }
    column_formatters_detail = column_formatters
    # The CSV: every amount in the machine format ("1250.50"; the limits: ``amounts``).
    column_formatters_export = {
        "state": _state, "today": _total_export("today"), "month": _total_export("month"),
        "auto_pause": _yes_no, "paused": _yes_no, "active": _yes_no, "paused_reason": _paused_by,
    }
    column_filters = (
        NEEDS_ATTENTION,
        STATE_FILTER,
        MERCHANT_FILTER,
        FilterEqual(column=Wallet.payment_system, name=_l("Payment system"), options=payment_system_choices),
        BooleanEqualFilter(column=Wallet.active, name=_l("Active")),
        BooleanEqualFilter(column=Wallet.paused, name=_l("Paused")),
        BooleanEqualFilter(column=Wallet.auto_pause, name=_l("Pause when silent")),
    )
    column_filters_basic = column_filters[:4]  # at once above the list (issue 22, point 2)
    column_numeric = ("today", "month")
    column_default_hidden = ("identifier", "max_per_transaction")  # at 1366 px (issue 22); the chooser adds them
    list_live = True
    form_columns = IDENTITY_FIELDS + OPERATION_FIELDS
    form_args = {
        "max_per_transaction": {"description": _l("The largest single payment the plugin offers it for; empty: "
                                                  "no limit.")},
        "daily_limit": {"description": _l("Incoming money per day (the merchant's time zone); empty: no limit.")},
        "monthly_limit": {"description": _l("Incoming money per calendar month; empty: no limit.")},
        "paused": {"description": _l("A paused wallet is never offered in the plugin.")},
        "auto_pause": {"description": _l("Pause it automatically when it is silent; the next report un-pauses "
                                         "it.")},
    }

    # -- the list ------------------------------------------------------------------------------
    def get_query(self):
        # Merchant (its time zone: health) and payment system (its currency) in the same
        # query: no query per row. The "needs attention" condition needs Merchant too.
        query = (Wallet.select(Wallet, Merchant, PaymentSystem)
                 .join(Merchant, on=(Wallet.merchant == Merchant.id))
                 .switch(Wallet)
                 .join(PaymentSystem, on=(Wallet.payment_system == PaymentSystem.id))
                 .switch(Wallet))
        return scope_query(query, Wallet)

    def _handle_join(self, query, field, joins):
        joins.update(("Merchant", "PaymentSystem"))  # joined by get_query already
        return super()._handle_join(query, field, joins)

    def attention_url(self):
        """The list of the wallets that need attention (the dashboard links to it)."""
        return url_for(f"{self.endpoint}.index_view", **{f"flt0_{self.filter_key(NEEDS_ATTENTION)}": "1"})

    def get_export_name(self, export_type="csv"):
        return f"wallets.{export_type}"

    def get_export_columns(self):
        return [(name, EXPORT_LABELS.get(name, label)) for name, label in super().get_export_columns()]

    @staticmethod
    def silent_minutes():
        return int(service.silent_window(current_app.config).total_seconds() // 60)

    # -- create and edit: the operations through services.wallets.update -------------------------
    def _operation_values(self, form):
        """The form's limits, paused and auto-pause as ``services.wallets.update`` takes
        them; a limit is money by ``parse_amount``'s rules (2 places at most)."""
        values = {}
        for name in OPERATION_FIELDS:
            if name not in form:
                continue
            value = form[name].data
            if name in service.LIMIT_FIELDS and value is not None:
                try:
                    value = parse_amount(format(value, "f"))
                except AmountError as exc:
                    raise service.WalletChangeError(name, exc.message) from None
            values[name] = value
        return values

    def _identity_fields(self, form):
        return [name for name in IDENTITY_FIELDS if name in form]

    def create_model(self, form):
        """The wallet as it is (no limits, running), then its operations through the
        service (checked, audited), in one transaction."""
        try:
            with write_transaction() as txn:
                model = Wallet()
                for name in self._identity_fields(form):
                    form[name].populate_obj(model, name)
                self._on_model_change(form, model, True)
                model.save(force_insert=True)
                g.audit_before = {}
                self.after_model_change(form, model, True)  # wallet.create
                try:
                    service.update([model.id], self._operation_values(form), current_user.id,
                                   ip=request.remote_addr or "")
                except service.WalletChangeError as exc:
                    txn.rollback()
                    field_errors(form, exc)
                    return False
        except IntegrityError:
            self._duplicate(form)
            return False
        return Wallet.get_by_id(model.id)

    def update_model(self, form, model):
        """The operations through the service (checked, audited as ``wallet.update``), then
        the wallet's own fields (audited as ``wallet.edit``), in one transaction. Only the
        form's fields are written: the running totals and report times stay the ingest's."""
        try:
            with write_transaction() as txn:
                try:
                    values = self._operation_values(form)
                    if values.get("paused") == model.paused:
                        del values["paused"]  # left as it was: an automatic pause stays the automatic one
                    service.update([model.id], values, current_user.id, ip=request.remote_addr or "")
                except service.WalletChangeError as exc:
                    txn.rollback()
                    field_errors(form, exc)
                    return False
                fresh = Wallet.get_by_id(model.id)
                g.audit_before = snapshot(fresh)
                names = self._identity_fields(form)
                for name in names:
                    form[name].populate_obj(fresh, name)
                self._on_model_change(form, fresh, False)
                fresh.save(only=[Wallet._meta.fields[name] for name in names])
                self.after_model_change(form, fresh, False)  # wallet.edit, when they changed
        except IntegrityError:
            self._duplicate(form)
            return False
        return True

    @staticmethod
    def _duplicate(form):
        message = _("Another wallet of this payment system has this number.")
        if "number" in form:
            form.number.errors = list(form.number.errors) + [message]
        else:
            flash(message, "error")

    # -- bulk ----------------------------------------------------------------------------------------
    def _bulk(self, ids, values, message):
        """``values`` on every selected wallet; ``message(n)`` says how many changed."""
        try:
            changed = service.update(ids, values, current_user.id, ip=request.remote_addr or "")
        except service.WalletChangeError as exc:
            flash(exc.message, "error")
            return
        flash(message(changed), "success")

    @action("pause", _l("Pause"), _l("Pause the selected wallets? The plugin stops offering them."))
    def action_pause(self, ids):
        self._bulk(ids, {"paused": True}, lambda n: ngettext("%(num)d wallet paused.", "%(num)d wallets paused.", n))

    @action("unpause", _l("Unpause"), _l("Unpause the selected wallets? The plugin offers them again."))
    def action_unpause(self, ids):
        self._bulk(ids, {"paused": False},
                   lambda n: ngettext("%(num)d wallet unpaused.", "%(num)d wallets unpaused.", n))

    @action("auto_pause_on", _l("Pause when silent: on"),
            _l("Pause the selected wallets automatically whenever they are silent?"))
    def action_auto_pause_on(self, ids):
        self._bulk(ids, {"auto_pause": True},
                   lambda n: ngettext("%(num)d wallet now pauses when silent.",
                                      "%(num)d wallets now pause when silent.", n))

    @action("auto_pause_off", _l("Pause when silent: off"),
            _l("Stop pausing the selected wallets automatically when they are silent?"))
    def action_auto_pause_off(self, ids):
        self._bulk(ids, {"auto_pause": False},
                   lambda n: ngettext("%(num)d wallet no longer pauses when silent.",
                                      "%(num)d wallets no longer pause when silent.", n))

    @action("limits", _l("Set limits"))
    def action_limits(self, ids):
        if not ids:
            flash(_("Choose the wallets whose limits to change."), "error")
            return None
        return redirect(self.get_url(".limits_view", id=[str(i) for i in ids]))

    @expose("/limits/", methods=("GET", "POST"))
    def limits_view(self):
        """Set, leave or clear each limit on every selected wallet (``?id=…`` repeated)."""
        source = request.form if request.method == "POST" else request.args
        ids = self.scoped_ids(source.getlist("id"))
        if not ids:
            flash(_("Choose the wallets whose limits to change."), "error")
            return redirect(self.get_url(".index_view"))
        wallets = list(self.get_query().where(Wallet.id.in_(ids)).order_by(Wallet.id))
        form = BulkLimitsForm()
        if form.validate_on_submit():
            values = bulk_limit_values(form)
            if values is not None:
                try:
                    changed = service.update(ids, values, current_user.id, ip=request.remote_addr or "")
                except service.WalletChangeError as exc:
                    field_errors(form, exc)
                else:
                    flash(ngettext("Limits changed on %(num)d wallet.", "Limits changed on %(num)d wallets.",
                                   changed), "success")
                    return redirect(self.get_url(".index_view"))
        return self.render("admin/wallets_limits.html", form=form, wallets=wallets,
                           limit_fields=service.LIMIT_FIELDS, money=format_money, amount_example=amount_example(),
                           state=lambda w: state_label(row_health(w).state))


__all__ = ["HEALTH_STATES", "NEEDS_ATTENTION", "WalletView", "row_health"]
