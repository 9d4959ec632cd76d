"""The matching policy (SPEC §11): what a visitor must state beside the transaction
number for a reported payment to be credited to them, and the risk limits.

A transaction number is seen by more people than the payer; the policy narrows who
can claim it:

* ``require_sender`` — the last 4 digits of the wallet the visitor paid from, matched
  against the reported sender (``counterparty``);
* ``require_amount`` — the amount the visitor paid (or the plugin session names),
  equal to the reported one within ``amount_tolerance``;
* ``window_minutes`` — the reported payment occurred at most this long before the
  attempt;
* velocity limits (activations per label per hour, per sender wallet per day) and the
  review thresholds (a deposit above an amount, a label's first deposit above an
  amount, is held for an operator).

One row with no merchant is the operators' default; a merchant with a row of its own
follows that row entirely. The activation path reads the policy in the same query
that finds the merchant (``activation.settings_for_plugin``): no extra round trip.

The checks themselves run inside the activation's claim (``activation``), so a
mismatch costs what an unknown number costs; :func:`mismatch` says afterwards which
detail failed, for the attempt log only.
"""
import datetime
import ipaddress
import re
from dataclasses import dataclass, replace
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..db import write_transaction
from ..models import MatchingPolicy, utcnow
from ..money import AmountError, parse_amount, to_str
from . import audit
from .checks import SettingsError, as_bool

SENDER_DIGITS = 4
SENDER_RE = re.compile(r"^[0-9]{4}$")
MAX_WINDOW_MINUTES = 30 * 24 * 60
MAX_VELOCITY = 100000


@dataclass(frozen=True)
class Policy:
    require_sender: bool = True
    require_amount: bool = False
    amount_tolerance: Decimal = Decimal("0.00")
    window_minutes: int = 24 * 60
    velocity_label_hour: int = None
    velocity_sender_day: int = None
    review_above: Decimal = None
    review_first_above: Decimal = None
    own: bool = False  # the merchant has a policy of its own (else: the default)

    def requires(self):
        """What the plugin must ask the visitor for (``GET /plugin/api/config``)."""
        wanted = []
        if self.require_sender:
            wanted.append("sender_last4")
        if self.require_amount:
            wanted.append("amount")
        return wanted

    def oldest(self, now):
        """The earliest moment a payment may have occurred to be claimed at ``now``."""
        if not self.window_minutes:
            return datetime.datetime(1970, 1, 1)
        return now - datetime.timedelta(minutes=self.window_minutes)


POLICY_FIELDS = ("require_sender", "require_amount", "amount_tolerance", "window_minutes", "velocity_label_hour",
                 "velocity_sender_day", "review_above", "review_first_above")
# With no default row (migration 0012 writes one, asking for the sender's digits; a
# database emptied by hand, like the test suite's, has none): the number alone, as
# before SPEC §11.
BUILT_IN = Policy(require_sender=False, window_minutes=None)

EXPLANATIONS = {
    "require_sender": _l("The visitor also types the last 4 digits of the wallet they paid from; they must match "
                         "the sender the payment system reported. Someone who only saw the transaction number "
                         "cannot claim the payment."),
    "require_amount": _l("The visitor also states the amount they paid (or the plugin session names it); it must "
                         "equal the reported amount, within the tolerance below."),
    "amount_tolerance": _l("How far the stated amount may be from the reported one (0: exactly equal)."),
    "window_minutes": _l("A payment can be claimed at most this many minutes after it was made. Empty: no limit."),
    "velocity_label_hour": _l("At most this many deposits per visitor (label) per hour; further attempts are "
                              "refused. Empty: no limit."),
    "velocity_sender_day": _l("At most this many deposits from one sender wallet per day; further attempts are "
                              "refused. Empty: no limit."),
    "review_above": _l("A deposit above this amount is held until an operator approves it in the Review queue. "
                       "Empty: never."),
    "review_first_above": _l("A visitor's first deposit above this amount is held for review. Empty: never."),
}
LABELS = {
    "require_sender": _l("Ask for the sender's last 4 digits"),
    "require_amount": _l("Ask for the amount paid"),
    "amount_tolerance": _l("Amount tolerance"),
    "window_minutes": _l("Time window (minutes)"),
    "velocity_label_hour": _l("Deposits per visitor per hour"),
    "velocity_sender_day": _l("Deposits per sender wallet per day"),
    "review_above": _l("Review deposits above"),
    "review_first_above": _l("Review a visitor's first deposit above"),
}


def from_row(row, own=False):
    """A :class:`Policy` from a ``MatchingPolicy`` row (or None: the built-in default)."""
    if row is None or row.id is None:
        return BUILT_IN
    return Policy(**{name: getattr(row, name) for name in POLICY_FIELDS}, own=own)


def effective(own_row, default_row):
    """The policy that applies: the merchant's own row, else the default row."""
    if own_row is not None and own_row.id is not None:
        return from_row(own_row, own=True)
    return from_row(default_row)


def default_policy():
    return from_row(MatchingPolicy.get_or_none(MatchingPolicy.merchant.is_null()))


def policy_for(merchant_id):
    """The policy that applies to a merchant (one query)."""
    rows = list(MatchingPolicy.select().where(MatchingPolicy.merchant.is_null()
                                              | (MatchingPolicy.merchant == merchant_id)))
    own = next((r for r in rows if r.merchant_id == merchant_id), None)
    default = next((r for r in rows if r.merchant_id is None), None)
    return effective(own, default)



def _count(value, field, low, high):
    """A whole number in [low, high], or None when blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SettingsError({field: _("Enter a whole number, or leave it empty.")}) from None
    if not low <= number <= high:
        raise SettingsError({field: _("Enter a number from %(low)d to %(high)d.", low=low, high=high)})
    return number


def _money(value, field, blank):
    if value is None or (isinstance(value, str) and not value.strip()):
        if blank is not None:
            return blank
        return None
    try:
        return parse_amount(value, allow_zero=True)
    except AmountError as exc:
        raise SettingsError({field: str(exc)}) from None


def clean(values, base=BUILT_IN):
    """The policy ``values`` (form text) describe, over ``base``; SettingsError names
    every faulty field and nothing is saved."""
    errors, clean_values = {}, {}
    for name in POLICY_FIELDS:
        if name not in values:
            continue
        value = values[name]
        try:
            if name in ("require_sender", "require_amount"):
                clean_values[name] = as_bool(value)
            elif name == "amount_tolerance":
                clean_values[name] = _money(value, name, Decimal("0.00"))
            elif name == "window_minutes":
                clean_values[name] = _count(value, name, 1, MAX_WINDOW_MINUTES)
            elif name in ("velocity_label_hour", "velocity_sender_day"):
                clean_values[name] = _count(value, name, 1, MAX_VELOCITY)
            else:
                clean_values[name] = _money(value, name, None)
        except SettingsError as exc:
            errors.update(exc.errors)
    if errors:
        raise SettingsError(errors)
    return replace(base, **clean_values)


def _summary(policy):
    return {name: to_str(value) if isinstance(value, Decimal) else value
            for name in POLICY_FIELDS for value in (getattr(policy, name),)}


def set_policy(merchant_id, values, actor, ip=""):
    """Save the operators' default (``merchant_id`` None) or a merchant's own policy."""
    with write_transaction():
        where = MatchingPolicy.merchant.is_null() if merchant_id is None else MatchingPolicy.merchant == merchant_id
        row = MatchingPolicy.get_or_none(where)
        before = from_row(row) if row is not None else (default_policy() if merchant_id is not None else BUILT_IN)
        policy = clean(values, replace(before, own=merchant_id is not None))
        data = {name: getattr(policy, name) for name in POLICY_FIELDS}
        if row is None:
            MatchingPolicy.create(merchant=merchant_id, updated_at=utcnow(), **data)
        else:
            MatchingPolicy.update(updated_at=utcnow(), **data).where(MatchingPolicy.id == row.id).execute()
        audit.record(actor, "matching_policy.update", merchant=merchant_id,
                     summary={"scope": "merchant" if merchant_id else "default", "before": _summary(before),
                              "after": _summary(policy)}, ip=ip)
    return policy


def follow_default(merchant_id, actor, ip=""):
    """The merchant drops its own policy and follows the operators' default."""
    with write_transaction():
        row = MatchingPolicy.get_or_none(MatchingPolicy.merchant == merchant_id)
        if row is None:
            return False
        row.delete_instance()
        audit.record(actor, "matching_policy.follow_default", merchant=merchant_id,
                     summary={"before": _summary(from_row(row))}, ip=ip)
    return True


def network_of(address):
    """The visitor's network as the attempt log keeps it: an IPv4 address's /24, an
    IPv6 address's /64 (an IPv4-mapped IPv6 address counts as IPv4)."""
    try:
        ip = ipaddress.ip_address((address or "").strip().split("%", 1)[0])
    except ValueError:
        return ""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def amount_bounds(policy, amount):
    tolerance = policy.amount_tolerance or Decimal("0")
    return amount - tolerance, amount + tolerance


def mismatch(policy, tx, sender_last4, amount, now, required=False):
    """Which stated detail does not fit the reported payment ``tx``: ``sender_mismatch``,
    ``amount_mismatch``, ``stale``, or None. The same rules as the claim's SQL.

    ``required``: a detail the policy asks for but the visitor did not state is a
    mismatch (a delayed activation stored before the policy changed)."""
    if policy.require_sender and (sender_last4 is not None or required):
        # The claim's SQL: the reported sender's last 4 characters equal the digits.
        if sender_last4 is None or (tx.counterparty or "")[-SENDER_DIGITS:] != sender_last4:
            return "sender_mismatch"
    if policy.require_amount and (amount is not None or required):
        low, high = amount_bounds(policy, amount) if amount is not None else (None, None)
        if amount is None or not low <= tx.amount <= high:
            return "amount_mismatch"
    if tx.created_at < policy.oldest(now):
        return "stale"
    return None
