"""Plugin sessions and the plugin secret (SPEC §13).

* :func:`create` — the merchant's server makes a session for one visitor (one label,
  maybe an order, an amount and the payment systems to offer) with its API key; the
  token goes into the snippet (``data-session``) in place of the label and its
  signature. It expires (30 minutes by default, at most 24 hours), so a snippet copied
  out of a page stops working, and no key ever reaches the page. Only the token's
  digest is stored.
* :func:`find` — the session a token names, or :class:`SessionExpired` /
  :class:`InvalidSession` (the plugin page and the plugin API answer 403 with those
  codes).
* :func:`rotate_plugin_secret` / :func:`plugin_secrets` — the key of ``data-signature``
  v2: a rotation keeps the previous secret working for 24 hours, so a merchant's pages
  signed a moment ago stay valid while its servers take the new one.

Plain functions: the merchant API, the plugin page and API, and Settings call them.
"""
import datetime
import secrets
from decimal import Decimal

from flask_babel import gettext as _

from ..db import write_transaction
from ..errors import RuleError
from ..models import Merchant, MerchantPaymentSystem, PaymentSystem, PluginSession, utcnow
from ..money import AmountError, parse_amount
from ..security import new_plugin_secret, new_session_token_for_plugin, token_digest
from . import audit

PREFIX = "pss_"
TOKEN_PREFIX = "pst_"
DEFAULT_LIFETIME = 30 * 60  # seconds
MIN_LIFETIME = 60
MAX_LIFETIME = 24 * 3600
SECRET_OVERLAP = datetime.timedelta(hours=24)
MAX_TOKEN_LENGTH = 128


class SessionError(RuleError):
    status = 403


class SessionExpired(SessionError):
    code = "session_expired"

    def __init__(self):
        super().__init__(_("This plugin session has expired: the site must create a new one."))


class InvalidSession(SessionError):
    code = "invalid_session"

    def __init__(self):
        super().__init__(_("This plugin session is not valid."))


def _codes_enabled(merchant):
    """The merchant's payment systems enabled for the plugin: code -> currency."""
    rows = (PaymentSystem.select(PaymentSystem.code, PaymentSystem.currency)
            .join(MerchantPaymentSystem, on=(MerchantPaymentSystem.payment_system == PaymentSystem.id))
            .where(MerchantPaymentSystem.merchant == merchant.id, MerchantPaymentSystem.enabled == True)  # noqa: E712
            .tuples())
    return dict(rows)


def check(merchant, label, order_id=None, amount=None, currency=None, payment_systems=None, expires_in=None):
    """The session's fields checked: a dict of clean values, or :class:`RuleError`
    naming each faulty field."""
    faults = {}
    label = (label or "").strip() if isinstance(label, str) else ""
    if not label:
        faults["label"] = _("is required")
    elif len(label) > 255:
        faults["label"] = _("must be at most %(n)d characters", n=255)
    if order_id is not None:
        order_id = order_id.strip() if isinstance(order_id, str) else None
        if order_id is None or len(order_id) > 255:
            faults["order_id"] = _("must be at most %(n)d characters", n=255)
    enabled = _codes_enabled(merchant)
    codes = None
    if payment_systems is not None:
        if not isinstance(payment_systems, (list, tuple)) or not all(isinstance(c, str) for c in payment_systems):
            faults["payment_systems"] = _("must be a list of payment system codes")
        else:
            codes = [c.strip().lower() for c in payment_systems if c.strip()]
            unknown = [c for c in codes if c not in enabled]
            if unknown:
                faults["payment_systems"] = _("not enabled for the plugin: %(codes)s", codes=", ".join(unknown[:5]))
            elif not codes:
                faults["payment_systems"] = _("must name at least one payment system")
    if currency is not None:
        currency = currency.strip().upper() if isinstance(currency, str) else ""
        offered = {enabled[c] for c in (codes or enabled) if c in enabled}
        if currency not in offered:
            faults["currency"] = _("must be the currency of a payment system offered (%(list)s)",
                                   list=", ".join(sorted(offered)) or "-")
    if amount is not None:
        try:
            amount = parse_amount(amount)
        except AmountError as exc:
            faults["amount"] = exc.message
        else:
            if currency is None and "currency" not in faults:
                faults["currency"] = _("is required with an amount")
    if expires_in is None:
        expires_in = DEFAULT_LIFETIME
    elif isinstance(expires_in, bool) or not isinstance(expires_in, int) \
            or not MIN_LIFETIME <= expires_in <= MAX_LIFETIME:
        faults["expires_in"] = _("must be a whole number of seconds from %(low)d to %(high)d",
                                 low=MIN_LIFETIME, high=MAX_LIFETIME)
    if faults:
        raise RuleError(fields=faults)
    return {"label": label, "order_id": order_id or None, "amount": amount, "currency": currency,
            "payment_systems": codes, "expires_in": expires_in}


def create(merchant, label, order_id=None, amount=None, currency=None, payment_systems=None, expires_in=None,
           now=None):
    """A new session for one visitor of ``merchant``: ``(session, token)``. The token is
    shown once (only its digest is kept)."""
    clean = check(merchant, label, order_id, amount, currency, payment_systems, expires_in)
    now = now or utcnow()
    token = new_session_token_for_plugin()
    with write_transaction():
        session = PluginSession.create(
            public_id=PREFIX + secrets.token_urlsafe(12), token_digest=token_digest(token), merchant=merchant.id,
            label=clean["label"], order_id=clean["order_id"], amount=clean["amount"], currency=clean["currency"],
            payment_systems=clean["payment_systems"],
            expires_at=now + datetime.timedelta(seconds=clean["expires_in"]), created_at=now)
    return session, token


def find(token, merchant=None, now=None):
    """The live session ``token`` names (of ``merchant``, when given)."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidSession()
    session = PluginSession.get_or_none(PluginSession.token_digest == token_digest(token))
    if session is None or (merchant is not None and session.merchant_id != merchant.id):
        raise InvalidSession()
    if session.expires_at <= (now or utcnow()):
        raise SessionExpired()
    return session


def label_of(token):
    """The label a session token names, expired or not (None when it names none): the
    key of the per-label rate limit, so a visitor's sessions share one allowance."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = (PluginSession.select(PluginSession.label).where(PluginSession.token_digest == token_digest(token))
           .tuples().first())
    return row[0] if row else None


def seconds_left(session, now=None):
    return max(0, int((session.expires_at - (now or utcnow())).total_seconds()))


def amount_text(session):
    return None if session.amount is None else str(Decimal(session.amount).quantize(Decimal("0.01")))


def remove_old(days=7, now=None):
    """Delete sessions expired more than ``days`` ago (the periodic sweep); the count."""
    cutoff = (now or utcnow()) - datetime.timedelta(days=days)
    return PluginSession.delete().where(PluginSession.expires_at < cutoff).execute()


# --- the plugin secret ---------------------------------------------------------------


def plugin_secrets(merchant, now=None):
    """The secrets a v2 signature may be keyed with now: the current one, and the
    previous one while its 24 hours last."""
    out = [merchant.plugin_secret] if merchant.plugin_secret else []
    until = merchant.plugin_secret_previous_until
    if merchant.plugin_secret_previous and until and until > (now or utcnow()):
        out.append(merchant.plugin_secret_previous)
    return out


def rotate_plugin_secret(merchant, actor, ip="", now=None):
    """A new plugin secret (returned once); the previous one signs too for 24 hours."""
    now = now or utcnow()
    secret = new_plugin_secret()
    until = now + SECRET_OVERLAP
    with write_transaction():
        Merchant.update(plugin_secret=secret, plugin_secret_previous=merchant.plugin_secret,
                        plugin_secret_previous_until=until).where(Merchant.id == merchant.id).execute()
        audit.record(actor, "merchant.rotate_plugin_secret", merchant, merchant=merchant.id, ip=ip,
                     summary={"previous_valid_until": until.isoformat(timespec="seconds")})
    merchant.plugin_secret_previous, merchant.plugin_secret_previous_until = merchant.plugin_secret, until
    merchant.plugin_secret = secret
    return secret
