"""Audit entries as sentences (issue 22, point 4): the one place that says, for every
action the code writes to the audit log, what people read about it.

:func:`describe` turns an ``AuditLog`` row into a :class:`Description`: a sentence
("Anna changed the time zone from Asia/Dhaka to Asia/Kolkata.", "Operator approved
withdrawal W-17 (500.00 BDT).") and a readable list of what changed (field: before →
after) and of the other facts the entry keeps (field: value). Never raw JSON: an action
without a sentence here (an old entry) reads as a generic sentence with its facts.

:data:`SENTENCES` maps each action to its sentence(s); ``tests/admin_views/
test_words_audit.py`` collects every action the code can write (``audit.record``
calls) and fails on one without a sentence here.

Who acted is shown as everywhere else (``labels.actor_label``): merchant users see
"Operator" for platform staff, never their login, here too (a first approver named in
an entry's facts included).
"""
import datetime
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup

from .. import config, labels
from ..i18n import format_datetime, languages, money_text
from ..models import Merchant, PaymentSystem, User
from ..services import matching
from .plugin import THEME_LABELS
from .postbacks import EVENT_TYPE_LABELS
from .zone_names import zone_label

# --- fields: a label for lists, a phrase for "changed <phrase> from … to …" --------------------

FIELDS = {
    "name": (_l("Name"), _l("the name")),
    "timezone": (_l("Time zone"), _l("the time zone")),
    "default_display_currency": (_l("Default display currency"), _l("the default display currency")),
    "after_payment": (_l("After payment"), _l("what the plugin does after payment")),
    "after_payment_url": (_l("Redirect URL"), _l("the redirect URL")),
    "allowed_origins": (_l("Allowed origins"), _l("the allowed origins")),
    "require_signed_labels": (_l("Require signed labels"), None),
    "delayed_activation": (_l("Delayed automatic activation"), None),
    "pending_activation_ttl": (_l("Waiting time of a delayed activation, minutes"),
                               _l("the waiting time of a delayed activation")),
    "withdrawal_dual_approval_above": (_l("Two approvals above"), _l("the amount above which two approvals are needed")),
    "language": (_l("Interface language"), _l("the interface language")),
    "plugin_language": (_l("Plugin language"), _l("the plugin's default language")),
    "active": (_l("Active"), None),
    "url": (_l("URL"), _l("the URL")),
    "description": (_l("Description"), _l("the description")),
    "event_types": (_l("Event types"), _l("the event types")),
    "enabled": (_l("Enabled"), None),
    "min_deposit": (_l("Minimum deposit"), _l("the minimum deposit")),
    "commission_percent": (_l("Commission, %"), _l("the commission")),
    "display_order": (_l("Display order"), _l("the display order")),
    "merchant": (_l("Merchant"), _l("the merchant")),
    "payment_system": (_l("Payment system"), _l("the payment system")),
    "identifier": (_l("Wallet identifier"), _l("the wallet identifier")),
    "number": (_l("Wallet number"), _l("the wallet number")),
    "code": (_l("Code"), _l("the code")),
    "currency": (_l("Currency"), _l("the currency")),
    "rate_to_usd": (_l("Rate to USD"), _l("the rate to USD")),
    "effective_date": (_l("Effective date"), _l("the effective date")),
    "withdrawal_fields": (_l("Withdrawal fields"), _l("the withdrawal fields")),
    "status": (_l("Status"), _l("the status")),
    "theme": (_l("Theme"), _l("the theme")),
    "originality": (_l("Originality"), _l("the originality")),
    # Facts (not changed fields).
    "login": (_l("Login"), None), "role": (_l("Role"), None), "note": (_l("Note"), None),
    "reason": (_l("Reason"), None), "reject_reason": (_l("Reason for rejection"), None),
    "payout_reference": (_l("Payout reference"), None), "payout_receipt": (_l("Receipt attached"), None),
    "wallet_sender": (_l("Paid from wallet"), None), "first_approved_by": (_l("First approval by"), None),
    "via": (_l("Through"), None), "sha256": (_l("Stylesheet fingerprint"), None),
    "rule": (_l("Rule"), None), "transaction": (_l("Transaction"), None), "label": (_l("Label"), None),
    "amount": (_l("Amount"), None), "differences": (_l("Differences"), None),
    "reported_amount": (_l("Reported amount"), None), "stored_amount": (_l("Stored amount"), None),
    "reported_wallet": (_l("Reported wallet"), None), "reported_direction": (_l("Reported direction"), None),
    "difference_count": (_l("Differences"), None), "outstanding_count": (_l("Differences still open"), None),
    "expires_at": (_l("Valid until"), None), "left": (_l("Recovery codes left"), None),
    "events": (_l("Events"), None), "since": (_l("Since"), None), "grace_until": (_l("Old secret signs until"), None),
    "failing_since": (_l("Failing since"), None), "event_id": (_l("Event ID"), None),
    "delivery": (_l("Delivery"), None), "endpoint_id": (_l("Endpoint ID"), None),
    "endpoints": (_l("Endpoints"), None), "kind": (_l("Kind"), None), "value": (_l("Value"), None),
    "withdrawal_id": (_l("Withdrawal ID"), None), "approvals": (_l("Approvals"), None), "by": (_l("By"), None),
    "transaction_number": (_l("Transaction number"), None), "merchant_id": (_l("Merchant"), None),
    "consistent": (_l("Consistent"), None), "outcome": (_l("Outcome"), None),
    "payment_systems": (_l("Payment systems"), None), "scope": (_l("Scope"), None),
    # Wallet operations and appeals (SPEC §12).
    "max_per_transaction": (_l("Maximum per payment"), _l("the maximum per payment")),
    "daily_limit": (_l("Daily limit"), _l("the daily limit")),
    "monthly_limit": (_l("Monthly limit"), _l("the monthly limit")),
    "paused": (_l("Paused"), None), "auto_pause": (_l("Pause automatically when silent"), None),
    "wallet": (_l("Wallet"), None), "appeal": (_l("Appeal"), None),
    "silent_minutes": (_l("Silent for, minutes"), None),
}
FIELDS.update({name: (label, None) for name, label in matching.LABELS.items()})

# What a stored value means, field by field.
AFTER_PAYMENT = {"message": _l("Show a message"), "redirect": _l("Redirect to a URL"),
                 "close": _l("Close the plugin")}
RISK_KINDS = {"label": _l("Label"), "sender": _l("Sender wallet"), "network": _l("Visitor network")}
DISABLED_REASONS = {"failing": _l("no successful delivery for days"), "merchant": _l("by the merchant"),
                    "operator": _l("by an operator")}
REVIEW_RULES = {"above": _l("the deposit is above the review threshold"),
                "first_above": _l("the label's first deposit is above the review threshold")}
VIA = {"api": _l("the API"), "back office": _l("Back office")}
VALUES = {
    "role": labels.ROLE, "after_payment": AFTER_PAYMENT, "theme": THEME_LABELS, "originality": labels.ORIGINALITY,
    "reported_direction": labels.DIRECTION, "outcome": labels.ACTIVATION_OUTCOME, "rule": REVIEW_RULES,
    "reason": DISABLED_REASONS, "by": VIA, "via": VIA, "status": labels.WITHDRAWAL_STATUS,
    "plugin_language": config.PLUGIN_LANGUAGES,
}
DATE_TIMES = {"expires_at", "since", "grace_until", "failing_since", "previous_valid_until"}
# Amounts (stored as "1250.50"): read in the viewer's language (issue 22, point 3).
MONEY = {"min_deposit", "amount_tolerance", "review_above", "review_first_above", "withdrawal_dual_approval_above",
         "max_per_transaction", "daily_limit", "monthly_limit", "amount", "reported_amount", "stored_amount"}


@dataclass
class Description:
    """What an entry says: ``sentence``; ``changes`` (label, before, after) and ``facts``
    (label, value), all text for people."""

    sentence: str
    changes: list = field(default_factory=list)
    facts: list = field(default_factory=list)

    def text(self):
        """One line (the CSV export's Description column)."""
        parts = [f"{label}: {before} → {after}" for label, before, after in self.changes]
        parts += [f"{label}: {value}" for label, value in self.facts]
        return self.sentence + (" (" + "; ".join(parts) + ")" if parts else "")

    def __str__(self):
        return self.text()

    def __html__(self):
        html = Markup('<span class="bo-audit-sentence">%s</span>') % self.sentence
        if not (self.changes or self.facts):
            return html
        items = [Markup('<li><span class="text-muted">%s:</span> %s <span aria-hidden="true">→</span>'
                        '<span class="sr-only">%s</span> %s</li>') % (label, before, _("changed to"), after)
                 for label, before, after in self.changes]
        items += [Markup('<li><span class="text-muted">%s:</span> %s</li>') % (label, value)
                  for label, value in self.facts]
        return html + Markup('<ul class="bo-audit-details list-unstyled small mb-0">%s</ul>') % Markup("").join(items)


class Names:
    """Names of the rows an entry refers to by id (payment systems, merchants, users),
    each read once per page."""

    def __init__(self, viewer_is_operator):
        self.viewer_is_operator = viewer_is_operator
        self._systems = None
        self._merchants = {}
        self._users = {}

    def payment_system(self, pk):
        if self._systems is None:
            self._systems = {ps.id: ps.name for ps in PaymentSystem.select(PaymentSystem.id, PaymentSystem.name)}
        return self._systems.get(_int(pk), f"#{pk}")

    def merchant(self, pk):
        pk = _int(pk)
        if pk not in self._merchants:
            row = Merchant.select(Merchant.name).where(Merchant.id == pk).first() if pk is not None else None
            self._merchants[pk] = row.name if row is not None else f"#{pk}"
        return self._merchants[pk]

    def user(self, pk):
        pk = _int(pk)
        if pk not in self._users:
            row = User.select(User.id, User.login, User.role).where(User.id == pk).first() if pk is not None else None
            self._users[pk] = labels.actor_label(row, self.viewer_is_operator) if row is not None else f"#{pk}"
        return self._users[pk]


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def label_of(key):
    known = FIELDS.get(key)
    return str(known[0]) if known else str(key).replace("_", " ").capitalize()


def phrase_of(key):
    known = FIELDS.get(key)
    if known and known[1] is not None:
        return str(known[1])
    return _("“%(field)s”", field=label_of(key))


def amount_text(value, currency=None):
    """A stored amount ("1250.50") as people read it: in the viewer's language, joined to
    its currency by a no-break space ("1 250,50\u00a0BDT"); a value that is no amount, as it is."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or isinstance(value, bool):
        return f"{value} {currency or ''}".strip()
    return money_text(amount, currency or None)


def value_of(key, value, names):
    """A stored value as people read it (never "None", never JSON)."""
    if value is None or value == "":
        return _("(empty)")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key in MONEY and isinstance(value, (str, int, float, Decimal)):
        return amount_text(value)
    if key == "event_types" and isinstance(value, list):
        return ", ".join(str(EVENT_TYPE_LABELS.get(v, v)) for v in value) if value else _("All events")
    if key == "language":
        return languages().get(value, value)
    if key == "timezone" and isinstance(value, str):
        return zone_label(value, offset=False)  # "Дакка", not "Asia/Dhaka" (issue 22, point 5)
    if key in ("payment_system",) and _int(value) is not None:
        return names.payment_system(value)
    if key in ("merchant", "merchant_id") and _int(value) is not None:
        return names.merchant(value)
    if key == "first_approved_by":
        return names.user(value)
    if key == "kind":
        return str(RISK_KINDS.get(value) or labels.REQUEST_KIND.get(value) or value)
    if key == "approvals" and isinstance(value, dict):
        return _("%(given)s of %(required)s", given=value.get("given"), required=value.get("required"))
    if key in DATE_TIMES and isinstance(value, str):
        try:
            return format_datetime(datetime.datetime.fromisoformat(value))
        except ValueError:
            return value
    if key == "differences" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(label_of(v) for v in value)
    if key in VALUES and isinstance(value, str):
        return str(VALUES[key].get(value, value))
    if isinstance(value, list):
        return ", ".join(value_of(key, v, names) for v in value) if value else _("(none)")
    if isinstance(value, dict):
        return "; ".join(f"{label_of(k)}: {value_of(k, v, names)}" for k, v in value.items()) or _("(none)")
    return str(value)


# --- the sentences ------------------------------------------------------------------------------

@dataclass
class Spec:
    """An action's sentence: ``text`` (formatted with the entry's values), or two when the
    entry is a change: ``one`` for a single changed field (``%(field)s``, ``%(before)s``,
    ``%(after)s``), ``text`` for several. ``values(entry, summary, names)`` gives the
    placeholders; ``used`` the summary keys the sentence says (not repeated as facts)."""

    text: object
    values: object = None
    used: tuple = ()
    one: object = None
    plural: object = None  # (count key, sentence(count, values)): a sentence with a number in it
    replaced_by: object = None  # only a "before" snapshot: each field changed to this
    toggles: dict = field(default_factory=dict)  # a lone boolean change: {field: (on, off)} sentences


def _get(*keys, default=""):
    def read(entry, s, names):
        out = {}
        for key in keys:
            value = s.get(key)
            out[key] = value_of(key, value, names) if value not in (None, "") else default
        return out
    return read


def _snap(key, *fallbacks):
    """A name out of an entry's snapshot (after, else before), else ``#object id``."""
    def read(entry, s, names):
        for part in ("after", "before"):
            data = s.get(part)
            if isinstance(data, dict):
                for k in (key,) + fallbacks:
                    if data.get(k) not in (None, ""):
                        return {"name": value_of(k, data[k], names)}
        return {"name": f"#{entry.object_id}" if entry.object_id else ""}
    return read


def _money(entry, s, names):
    amount, currency = s.get("amount"), s.get("currency")
    return {"amount": amount_text(amount, currency) if amount is not None else _("(empty)"),
            "id": s.get("withdrawal_id") or f"#{entry.object_id}"}


def _review(entry, s, names):
    return {"amount": amount_text(s.get("amount", ""), s.get("currency")), "label": s.get("label", "")}


def _merchant_name(entry, s, names):
    merchant = getattr(entry, "merchant", None) if entry.merchant_id is not None else None
    return {"merchant": merchant.name if merchant is not None else (
        names.merchant(entry.merchant_id) if entry.merchant_id is not None else "")}


def _object(entry, s, names):
    return {"id": entry.object_id}


def _login(entry, s, names):
    login = s.get("login") or names.user(entry.object_id)
    return {"user": login, "login": login,
            "role": value_of("role", s.get("role"), names) if s.get("role") else ""}


def _systems(entry, s, names):
    return {"name": s.get("name", ""), "systems": ", ".join(s.get("payment_systems") or []) or _("(none)")}


def _endpoint(entry, s, names):
    return {"id": entry.object_id, "url": s.get("url") or f"#{entry.object_id}",
            "reason": value_of("reason", s.get("reason"), names) if s.get("reason") else "",
            "since": value_of("since", s.get("since"), names) if s.get("since") else "",
            "until": value_of("grace_until", s.get("grace_until"), names) if s.get("grace_until") else "",
            "failing_since": value_of("failing_since", s.get("failing_since"), names)
            if s.get("failing_since") else ""}


def _form_specs(prefix, key, fallbacks, added, changed_one, changed, deleted):
    reader = _snap(key, *fallbacks)
    return {
        f"{prefix}.create": Spec(added, reader),
        f"{prefix}.edit": Spec(changed, reader, one=changed_one),
        f"{prefix}.delete": Spec(deleted, reader),
    }


SENTENCES = {
    # Merchants and their settings.
    "merchant.create": Spec(_l("%(actor)s created the merchant %(name)s."), _snap("name")),
    "merchant.edit": Spec(_l("%(actor)s changed the merchant's details."),
                          one=_l("%(actor)s changed %(field)s of the merchant from %(before)s to %(after)s.")),
    "merchant.settings": Spec(_l("%(actor)s changed the merchant's settings."),
                              one=_l("%(actor)s changed %(field)s from %(before)s to %(after)s.")),
    "merchant.enable": Spec(_l("%(actor)s enabled the merchant %(merchant)s."), _merchant_name),
    "merchant.disable": Spec(_l("%(actor)s disabled the merchant %(merchant)s."), _merchant_name),
    "merchant.rotate_api_key": Spec(_l("%(actor)s made a new API key for %(merchant)s; the old one stopped working."),
                                    _merchant_name),
    "merchant.rotate_plugin_secret": Spec(
        _l("%(actor)s made a new plugin secret for %(merchant)s; the previous one works until %(until)s."),
        lambda e, s, n: dict(_merchant_name(e, s, n),
                             until=value_of("previous_valid_until", s.get("previous_valid_until"), n)),
        ("previous_valid_until",)),
    "merchant.rotate_postback_secret": Spec(_l("%(actor)s made a new postback signing secret for %(merchant)s."),
                                            _merchant_name),
    # Users.
    "user.create": Spec(_l("%(actor)s created the user %(login)s (%(role)s)."), _login, ("login", "role")),
    "user.enable": Spec(_l("%(actor)s enabled the user %(login)s."), _login, ("login",)),
    "user.disable": Spec(_l("%(actor)s disabled the user %(login)s."), _login, ("login",)),
    "user.edit": Spec(_l("%(actor)s changed the user %(user)s."), _login,
                      one=_l("%(actor)s changed %(field)s of the user %(user)s from %(before)s to %(after)s.")),
    "user.reset_link": Spec(_l("%(actor)s made a one-time password link for %(login)s, valid until %(until)s."),
                            lambda e, s, n: dict(_login(e, s, n), until=value_of("expires_at", s.get("expires_at"), n)),
                            ("login", "expires_at")),
    "user.reset_password": Spec(_l("%(actor)s set a new password with a one-time link.")),
    "user.change_password": Spec(_l("%(actor)s changed their password.")),
    "user.profile": Spec(_l("%(actor)s changed their profile."),
                         one=_l("%(actor)s changed %(field)s from %(before)s to %(after)s.")),
    "user.totp_enable": Spec(_l("%(actor)s turned on two-factor sign-in.")),
    "user.totp_disable": Spec(_l("%(actor)s turned off two-factor sign-in.")),
    "user.recovery_codes_new": Spec(_l("%(actor)s made new recovery codes; the old ones stopped working.")),
    "user.recovery_code_used": Spec(None, used=("left",), plural=("left", lambda n, v: ngettext(
        "%(actor)s signed in with a recovery code; %(num)d code is left.",
        "%(actor)s signed in with a recovery code; %(num)d codes are left.", n, **v))),
    # Connector tokens.
    "connector_token.issue": Spec(_l("%(actor)s issued the connector token %(name)s for %(systems)s."), _systems,
                                  ("name", "payment_systems")),
    "connector_token.deactivate": Spec(_l("%(actor)s deactivated the connector token %(name)s."), _systems,
                                       ("name",)),
    # Transactions.
    "transaction.create_manual": Spec(_l("%(actor)s entered the transaction %(number)s by hand (%(amount)s)."),
                                      lambda e, s, n: {"number": s.get("transaction_number", ""),
                                                       "amount": amount_text(s.get("amount", ""))},
                                      ("transaction_number", "amount")),
    "transaction.conflicting_report": Spec(
        _l("%(actor)s reported the transaction #%(id)s again with other details (%(fields)s); the first report "
           "stands."),
        lambda e, s, n: {"id": e.object_id, "fields": value_of("differences", s.get("differences") or [], n)},
        ("differences",)),
    "transaction.activate_manually": Spec(
        _l("%(actor)s activated the transaction #%(id)s for the label %(label)s: %(outcome)s."),
        lambda e, s, n: {"id": e.object_id, "label": s.get("label", ""),
                         "outcome": value_of("outcome", s.get("outcome"), n)}, ("label", "outcome")),
    "transaction.mark_fraud": Spec(_l("%(actor)s marked the transaction #%(id)s as fraud."), _object,
                                   ("before", "after")),
    "transaction.mark_normal": Spec(_l("%(actor)s marked the transaction #%(id)s as normal again."), _object,
                                    ("before", "after")),
    # Review and risk.
    "review.approve": Spec(_l("%(actor)s approved the held deposit of %(amount)s (label %(label)s): it is credited."),
                           _review, ("amount", "currency", "label", "before", "after")),
    "review.refuse": Spec(_l("%(actor)s refused the held deposit of %(amount)s (label %(label)s): it is not "
                             "credited."), _review, ("amount", "currency", "label", "before", "after")),
    "risk.block": Spec(_l("%(actor)s added %(value)s to the blocklist (%(kind)s)."), _get("value", "kind"),
                       ("value", "kind")),
    "risk.unblock": Spec(_l("%(actor)s removed %(value)s from the blocklist (%(kind)s)."), _get("value", "kind"),
                         ("value", "kind")),
    "matching_policy.update": Spec(_l("%(actor)s changed the matching policy (%(scope)s)."),
                                   lambda e, s, n: {"scope": _("the default for every merchant")
                                                    if s.get("scope") == "default" else _("this merchant's own")},
                                   ("scope",),
                                   one=_l("%(actor)s changed %(field)s in the matching policy (%(scope)s) from "
                                          "%(before)s to %(after)s.")),
    "matching_policy.follow_default": Spec(_l("%(actor)s made the merchant follow the default matching policy "
                                              "again."), replaced_by=_l("the default")),
    # Wallet operations and appeals (SPEC §12).
    "wallet.update": Spec(_l("%(actor)s changed the wallet %(name)s."),
                          lambda e, s, n: {"name": s.get("wallet") or f"#{e.object_id}"}, ("wallet",),
                          one=_l("%(actor)s changed %(field)s of the wallet %(name)s from %(before)s to %(after)s."),
                          toggles={"paused": (_l("%(actor)s paused the wallet %(name)s."),
                                              _l("%(actor)s resumed the wallet %(name)s.")),
                                   "auto_pause": (_l("%(actor)s chose to pause the wallet %(name)s automatically "
                                                     "when it is silent."),
                                                  _l("%(actor)s chose not to pause the wallet %(name)s "
                                                     "automatically."))}),
    "wallet.paused_silent": Spec(None, _get("wallet"), ("wallet", "silent_minutes"), plural=(
        "silent_minutes", lambda n, v: ngettext(
            "%(actor)s paused the wallet %(wallet)s: the plugin showed it for %(num)d minute with no report.",
            "%(actor)s paused the wallet %(wallet)s: the plugin showed it for %(num)d minutes with no report.",
            n, **v))),
    "appeal.match": Spec(_l("%(actor)s matched the appeal %(appeal)s to the transaction %(transaction_number)s "
                            "for the label %(label)s: %(outcome)s."),
                         lambda e, s, n: {"appeal": s.get("appeal", ""), "transaction_number":
                                          s.get("transaction_number", ""), "label": s.get("label", ""),
                                          "outcome": value_of("outcome", s.get("outcome"), n)},
                         ("appeal", "transaction_number", "label", "outcome")),
    "appeal.reject": Spec(_l("%(actor)s rejected the appeal %(appeal)s: %(reason)s"), _get("appeal", "reason"),
                          ("appeal", "reason")),
    # Money.
    "balance.adjust": Spec(_l("%(actor)s adjusted the balance by %(amount)s: %(reason)s."),
                           lambda e, s, n: {"amount": amount_text(s.get("amount", ""), s.get("currency")),
                                            "reason": s.get("reason", "")}, ("amount", "currency", "reason")),
    "ledger.verify": Spec(None, used=("consistent", "difference_count", "differences", "outstanding"),
                          plural=("difference_count", lambda n, v: ngettext(
                              "The ledger check found %(num)d difference between balances and records.",
                              "The ledger check found %(num)d differences between balances and records.", n, **v))),
    "withdrawal.create": Spec(_l("%(actor)s requested the withdrawal %(id)s of %(amount)s (%(system)s)."),
                              lambda e, s, n: dict(_money(e, s, n), system=s.get("payment_system", "")),
                              ("withdrawal_id", "amount", "currency", "payment_system")),
    "withdrawal.approve": Spec(_l("%(actor)s approved the withdrawal %(id)s (%(amount)s)."), _money,
                               ("withdrawal_id", "amount", "currency")),
    "withdrawal.approve_first": Spec(_l("%(actor)s gave the first of two approvals to the withdrawal %(id)s "
                                        "(%(amount)s)."), _money, ("withdrawal_id", "amount", "currency")),
    "withdrawal.reject": Spec(_l("%(actor)s rejected the withdrawal %(id)s (%(amount)s)."), _money,
                              ("withdrawal_id", "amount", "currency")),
    "withdrawal.cancel": Spec(_l("%(actor)s cancelled the withdrawal %(id)s (%(amount)s)."), _money,
                              ("withdrawal_id", "amount", "currency")),
    # Webhooks and postbacks.
    "webhook_endpoint.create": Spec(_l("%(actor)s added the webhook endpoint %(url)s."), _endpoint, ("url",)),
    "webhook_endpoint.update": Spec(_l("%(actor)s changed the webhook endpoint #%(id)s."), _endpoint,
                                    one=_l("%(actor)s changed %(field)s of the webhook endpoint #%(id)s from "
                                           "%(before)s to %(after)s."),
                                    toggles={"enabled": (_l("%(actor)s enabled the webhook endpoint #%(id)s."),
                                                         _l("%(actor)s disabled the webhook endpoint #%(id)s."))}),
    "webhook_endpoint.delete": Spec(_l("%(actor)s deleted the webhook endpoint %(url)s."), _endpoint, ("url",)),
    "webhook_endpoint.rotate_secret": Spec(_l("%(actor)s made a new signing secret for the webhook endpoint #%(id)s; "
                                              "the old one signs too until %(until)s."), _endpoint, ("grace_until",)),
    "webhook_endpoint.disable": Spec(_l("%(actor)s disabled the webhook endpoint #%(id)s (%(reason)s)."), _endpoint,
                                     ("reason",)),
    "webhook_endpoint.auto_disable": Spec(_l("%(actor)s disabled the webhook endpoint %(url)s: no successful "
                                             "delivery since %(failing_since)s."), _endpoint,
                                          ("url", "failing_since")),
    "webhook_endpoint.recover": Spec(None, _endpoint, ("since", "events"), plural=("events", lambda n, v: ngettext(
        "%(actor)s sent the webhook endpoint #%(id)s again the %(num)d event it missed since %(since)s.",
        "%(actor)s sent the webhook endpoint #%(id)s again the %(num)d events it missed since %(since)s.", n, **v))),
    "postback.resend": Spec(_l("%(actor)s sent the postback %(event)s again."),
                            lambda e, s, n: {"event": s.get("event_id", "")}, ("event_id",)),
    # The plugin.
    "plugin.theme": Spec(_l("%(actor)s changed the plugin's theme."),
                         one=_l("%(actor)s changed the plugin's theme from %(before)s to %(after)s.")),
    "plugin.prompt": Spec(_l("%(actor)s uploaded a new payment prompt picture for %(system)s."),
                          lambda e, s, n: {"system": s.get("payment_system", "")}, ("payment_system",)),
    "plugin.prompt_removed": Spec(_l("%(actor)s removed the payment prompt picture of %(system)s."),
                                  lambda e, s, n: {"system": s.get("payment_system", "")}, ("payment_system",)),
}
# The operators' create / edit / delete forms (admin_views.auditing.AuditedViewMixin).
SENTENCES.update(_form_specs(
    "wallet", "number", ("identifier",), _l("%(actor)s added the wallet %(name)s."),
    _l("%(actor)s changed %(field)s of the wallet %(name)s from %(before)s to %(after)s."),
    _l("%(actor)s changed the wallet %(name)s."), _l("%(actor)s deleted the wallet %(name)s.")))
SENTENCES.update(_form_specs(
    "payment_system", "name", ("code",), _l("%(actor)s added the payment system %(name)s."),
    _l("%(actor)s changed %(field)s of the payment system %(name)s from %(before)s to %(after)s."),
    _l("%(actor)s changed the payment system %(name)s."), _l("%(actor)s deleted the payment system %(name)s.")))
SENTENCES.update(_form_specs(
    "exchange_rate", "currency", (), _l("%(actor)s added an exchange rate of %(name)s."),
    _l("%(actor)s changed %(field)s of the exchange rate of %(name)s from %(before)s to %(after)s."),
    _l("%(actor)s changed the exchange rate of %(name)s."), _l("%(actor)s deleted an exchange rate of %(name)s.")))
SENTENCES.update(_form_specs(
    "merchant_payment_system", "payment_system", (), _l("%(actor)s set up the payment system %(name)s for the "
                                                         "merchant."),
    _l("%(actor)s changed %(field)s of the payment system %(name)s for the merchant from %(before)s to %(after)s."),
    _l("%(actor)s changed the merchant's settings of the payment system %(name)s."),
    _l("%(actor)s removed the payment system %(name)s from the merchant.")))

GENERIC = _l("%(actor)s: %(action)s.")
GENERIC_OBJECT = _l("%(actor)s: %(action)s (%(object)s #%(id)s).")


# --- reading an entry ---------------------------------------------------------------------------

def actor_of(entry, viewer_is_operator):
    """Who acted, as the viewer may see them; nobody: the API, the command line or the system."""
    user = getattr(entry, "user", None) if entry.user_id is not None else None
    if user is not None:
        return labels.actor_label(user, viewer_is_operator)
    summary = entry.summary if isinstance(entry.summary, dict) else {}
    if summary.get("by") == "api" or summary.get("kind") == "api":
        return _("The merchant's API")
    if entry.ip == "cli":
        return _("The command line")
    if entry.action == "transaction.conflicting_report":
        return _("A connector")
    return _("The system")


def _changes(summary, names):
    """(key, before, after) of what an entry changed, in its order."""
    before, after = summary.get("before"), summary.get("after")
    if isinstance(before, dict) or isinstance(after, dict):
        before = before if isinstance(before, dict) else {}
        after = after if isinstance(after, dict) else {}
        if before and after:
            keys = [k for k in list(after) + [k for k in before if k not in after] if before.get(k) != after.get(k)]
            return [(k, before.get(k), after.get(k)) for k in keys], {"before", "after"}
        return [], set()  # a snapshot (created / deleted): its fields are facts
    if "before" in summary and "after" in summary:  # one scalar: the action says which field
        return [(None, before, after)], {"before", "after"}
    pairs = [(k, v["before"], v["after"]) for k, v in summary.items()
             if isinstance(v, dict) and set(v) == {"before", "after"}]
    return pairs, {k for k, *_rest in pairs}


# The field an entry's scalar before / after is about (others: the sentence says it all).
SCALAR_FIELDS = {"plugin.theme": "theme"}


def _facts(summary, used, names):
    facts = []
    for key, value in summary.items():
        if key in used or value is None or value == "":
            continue
        if key in ("before", "after") and isinstance(value, dict):  # a created / deleted row's fields
            facts += [(label_of(k), value_of(k, v, names)) for k, v in value.items()]
            continue
        facts.append((label_of(key), value_of(key, value, names)))
    return facts


def describe(entry, viewer_is_operator, names=None):
    """The :class:`Description` of an ``AuditLog`` row for this viewer."""
    names = names or Names(viewer_is_operator)
    summary = entry.summary if isinstance(entry.summary, dict) else {}
    actor = actor_of(entry, viewer_is_operator)
    spec = SENTENCES.get(entry.action)
    changes, changed_keys = _changes(summary, names)
    scalar = SCALAR_FIELDS.get(entry.action)
    shown = [(scalar if key is None else key, before, after) for key, before, after in changes]
    shown = [(key, value_of(key, b, names), value_of(key, a, names)) for key, b, a in shown if key is not None]
    if spec is None:
        values = {"actor": actor, "action": entry.action, "object": entry.object_type, "id": entry.object_id}
        sentence = (GENERIC_OBJECT if entry.object_type and entry.object_id else GENERIC) % values
        return Description(str(sentence), [(label_of(k), b, a) for k, b, a in shown],
                           _facts(summary, changed_keys, names))
    values = {"actor": actor}
    if spec.values is not None:
        values.update(spec.values(entry, summary, names))
    used = set(spec.used) | changed_keys
    if spec.replaced_by is not None and isinstance(summary.get("before"), dict):
        shown += [(k, value_of(k, v, names), str(spec.replaced_by)) for k, v in summary["before"].items()]
        used.add("before")
    if spec.plural is not None:
        key, say = spec.plural
        count = _int(summary.get(key)) or 0
        if entry.action == "ledger.verify" and summary.get("consistent"):
            sentence = _("The ledger check found every balance consistent with its records.")
        else:
            sentence = say(count, values)
        used.add(key)
    elif len(shown) == 1 and len(changes) == 1 and changes[0][0] in spec.toggles \
            and isinstance(changes[0][2], bool):
        sentence = str(spec.toggles[changes[0][0]][0 if changes[0][2] else 1]) % values
        shown = []
    elif spec.one is not None and len(shown) == 1:
        key, before, after = shown[0]
        sentence = str(spec.one) % dict(values, field=phrase_of(key), before=before, after=after)
        shown = []
    else:
        sentence = str(spec.text) % values
    facts = _facts(summary, used, names)
    return Description(sentence, [(label_of(k), b, a) for k, b, a in shown], facts)


__all__ = ["Description", "Names", "SENTENCES", "describe"]
