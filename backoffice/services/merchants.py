"""Operator management (issue 7): merchants, their user accounts, password resets.

Plain functions, no HTTP. A merchant is created with its keys (public key, API key;
its webhook endpoints come later) by :func:`create_merchant` and edited by :func:`edit_merchant`, each
change audited. A merchant is disabled, never deleted (its money records stay); a
disabled merchant's users cannot sign in and its plugin and merchant API answer 403
``merchant_disabled``. A password reset sends nothing by e-mail: the operator gets a
one-time link (its token is stored as a SHA-256 digest) that lets the user choose a
new password within :data:`RESET_TTL`. :func:`check_payment_settings` is the rule for
a merchant's settings per payment system (minimum deposit, commission).
"""
import datetime
import secrets
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _

from ..db import db
from ..i18n import languages
from ..models import Merchant, PasswordResetToken, User, utcnow
from ..security import new_api_key, new_public_key, token_digest
from . import accounts, audit, stats_rollup
from .checks import SettingsError, check_not_common, check_timezone

RESET_TTL = datetime.timedelta(hours=24)
MERCHANT_ROLES = ("merchant_owner", "merchant_staff")


MERCHANT_FIELDS = ("name", "timezone", "default_display_currency")  # what an operator edits


def _check_merchant(name, timezone, default_display_currency):
    """The merchant's editable fields, cleaned; SettingsError names each faulty one."""
    name = (name or "").strip()
    currency = (default_display_currency or "").strip() or "USD"
    errors = {}
    if not name or len(name) > 200:
        errors["name"] = _("Give the merchant a name (at most 200 characters).")
    try:
        timezone = check_timezone(timezone)
    except SettingsError as exc:
        errors.update(exc.errors)
    if len(currency) > 3:
        errors["default_display_currency"] = _("must be a 3-letter currency code")
    if errors:
        raise SettingsError(errors)
    return {"name": name, "timezone": timezone, "default_display_currency": currency}


def create_merchant(name, actor, timezone="UTC", ip="", default_display_currency="USD"):
    """A new merchant with its own public key and API key (audited); its webhook
    endpoints are added under Settings → Webhooks."""
    values = _check_merchant(name, timezone, default_display_currency)
    with db.atomic():
        merchant = Merchant.create(**values, public_key=new_public_key(), api_key=new_api_key())
        audit.record(actor, "merchant.create", merchant, merchant=merchant.id, summary={"after": values}, ip=ip)
    return merchant


def edit_merchant(merchant, actor, name, timezone, default_display_currency, ip=""):
    """Change the name, time zone or display currency; returns the changed fields.

    A new time zone recomputes the merchant's daily statistics in the same transaction.
    """
    values = _check_merchant(name, timezone, default_display_currency)
    before = {k: getattr(merchant, k) for k in MERCHANT_FIELDS}
    changed = {k: v for k, v in values.items() if before[k] != v}
    if not changed:
        return {}
    return apply_changes(merchant, changed, actor, "merchant.edit", ip=ip)


def apply_changes(merchant, changes, actor, action, ip=""):
    """Write ``changes`` (field -> new value, already checked) to ``merchant`` and audit
    them as ``action`` with before/after, in one transaction; a new time zone
    recomputes the merchant's daily statistics in it. Returns ``changes``."""
    before = {k: getattr(merchant, k) for k in changes}
    with db.atomic():
        Merchant.update(changes).where(Merchant.id == merchant.id).execute()
        for k, v in changes.items():
            setattr(merchant, k, v)
        if "timezone" in changes:
            stats_rollup.rebuild_days(merchant)
        audit.record(actor, action, merchant, merchant=merchant.id,
                     summary={"before": before, "after": changes}, ip=ip)
    return changes


def _money_value(value):
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def check_payment_settings(min_deposit, commission_percent):
    """A merchant's settings for one payment system: ``(min_deposit, commission_percent)``
    as Decimals, the minimum deposit zero or more, the commission 0-100 %.
    SettingsError names each faulty field."""
    errors = {}
    minimum = _money_value(min_deposit) if min_deposit is not None else None
    if minimum is None or not minimum.is_finite() or minimum < 0:
        errors["min_deposit"] = _("The minimum deposit must be zero or more.")
    commission = _money_value(commission_percent) if commission_percent is not None else None
    if commission is None or not commission.is_finite() or not (Decimal(0) <= commission <= Decimal(100)):
        errors["commission_percent"] = _("The commission must be between 0 and 100 %.")
    if errors:
        raise SettingsError(errors)
    return minimum, commission


def set_merchant_active(merchant, active, actor, ip=""):
    """Disable (or enable again) a merchant; its data stays. Returns True if it changed."""
    with db.atomic():
        changed = Merchant.update(active=bool(active)).where(
            (Merchant.id == merchant.id) & (Merchant.active != bool(active))).execute()
        if changed:
            audit.record(actor, "merchant.enable" if active else "merchant.disable", merchant, merchant=merchant.id,
                         summary={"before": {"active": not active}, "after": {"active": bool(active)}}, ip=ip)
    merchant.active = bool(active)
    return bool(changed)


def create_merchant_user(merchant, login, password, role, actor, language="en", ip=""):
    if role not in MERCHANT_ROLES:
        raise SettingsError({"role": _("Choose the owner or staff role.")})
    check_not_common(password, field="password")
    try:
        with db.atomic():
            user = accounts.create_user(login, password, role, merchant=merchant, language=language)
            audit.record(actor, "user.create", user, merchant=merchant.id,
                         summary={"login": user.login, "role": role}, ip=ip)
    except accounts.AccountError as exc:
        raise SettingsError({exc.field: exc.message}) from None
    return user


def set_user_active(user, active, actor, ip=""):
    """Disable (every session ends at once) or enable a user."""
    if getattr(actor, "id", actor) == user.id and not active:
        raise SettingsError({"active": _("You cannot disable your own account.")})
    with db.atomic():
        changed = User.update(active=bool(active)).where((User.id == user.id) & (User.active != bool(active))).execute()
        if changed:
            if not active:
                accounts.end_all_sessions(user)
            audit.record(actor, "user.enable" if active else "user.disable", user, merchant=user.merchant_id,
                         summary={"login": user.login, "before": {"active": not active},
                                  "after": {"active": bool(active)}}, ip=ip)
    user.active = bool(active)
    return bool(changed)


def set_user_language(user, language, actor, ip=""):
    """An operator changes a user's interface language; returns True if it changed."""
    if language not in languages():
        raise SettingsError({"language": _("Choose a language from the list.")})
    before = user.language
    if before == language:
        return False
    with db.atomic():
        User.update(language=language).where(User.id == user.id).execute()
        audit.record(actor, "user.edit", user, merchant=user.merchant_id,
                     summary={"before": {"language": before}, "after": {"language": language}}, ip=ip)
    user.language = language
    return True


def issue_reset_token(user, actor, ip="", ttl=RESET_TTL, now=None):
    """A one-time reset token (plain, to build the link shown to the operator once).

    Earlier unused tokens of the user stop working: only the newest link is valid.
    """
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    with db.atomic():
        PasswordResetToken.update(used_at=now).where(
            (PasswordResetToken.user == user.id) & PasswordResetToken.used_at.is_null()).execute()
        PasswordResetToken.create(user=user.id, token_hash=token_digest(token), created_by=getattr(actor, "id", actor),
                                  created_at=now, expires_at=now + ttl)
        audit.record(actor, "user.reset_link", user, merchant=user.merchant_id,
                     summary={"login": user.login, "expires_at": (now + ttl).isoformat(timespec="seconds")}, ip=ip)
    return token


def reset_token_user(token, now=None):
    """The user a still valid token belongs to, or None (unknown, used or expired)."""
    if not token or len(token) > 200:
        return None
    row = PasswordResetToken.get_or_none(PasswordResetToken.token_hash == token_digest(token))
    if row is None or row.used_at is not None or row.expires_at <= (now or utcnow()):
        return None
    user = User.get_by_id(row.user_id)
    return user if user.active else None


def use_reset_token(token, new_password, new_password_again, ip="", now=None):
    """Set a new password with a reset link; the link works once. Returns the user."""
    now = now or utcnow()
    user = reset_token_user(token, now)
    if user is None:
        raise SettingsError({"token": _("This reset link is not valid: it was used already or has expired.")})
    if new_password != new_password_again:
        raise SettingsError({"new_password_again": _("The two new passwords differ.")})
    check_not_common(new_password)
    with db.atomic():
        spent = PasswordResetToken.update(used_at=now).where(
            (PasswordResetToken.token_hash == token_digest(token)) & PasswordResetToken.used_at.is_null()
            & (PasswordResetToken.expires_at > now)).execute()
        if spent != 1:
            raise SettingsError({"token": _("This reset link is not valid: it was used already or has expired.")})
        try:
            accounts.set_password(user, new_password)
        except accounts.AccountError as exc:
            raise SettingsError({"new_password": exc.message}) from None
        # A forgotten password often comes with a lock-out: clear it.
        User.update(failed_logins=0, locked_until=None).where(User.id == user.id).execute()
        accounts.forget_account_failures(user.login)
        audit.record(user, "user.reset_password", user, merchant=user.merchant_id, ip=ip)
    return user
