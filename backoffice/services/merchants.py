"""Operator management (issue 7): merchants, their user accounts, password resets.

Plain functions, no HTTP. A merchant is disabled, never deleted (its money records
stay); a disabled merchant's users cannot sign in and its plugin and merchant API
answer 403 ``merchant_disabled``. A password reset sends nothing by e-mail: the
operator gets a one-time link (its token is stored as a SHA-256 digest) that lets the
user choose a new password within :data:`RESET_TTL`.
"""
import datetime
import secrets

from flask_babel import gettext as _

from ..db import db
from ..models import Merchant, PasswordResetToken, User, utcnow
from ..security import new_api_key, new_postback_secret, new_public_key, token_digest
from . import accounts, audit
from .settings import SettingsError, check_not_common, check_timezone

RESET_TTL = datetime.timedelta(hours=24)
MERCHANT_ROLES = ("merchant_owner", "merchant_staff")


def create_merchant(name, actor, timezone="UTC", ip=""):
    name = (name or "").strip()
    errors = {}
    if not name or len(name) > 200:
        errors["name"] = _("Give the merchant a name (at most 200 characters).")
    try:
        timezone = check_timezone(timezone)
    except SettingsError as exc:
        errors.update(exc.errors)
    if errors:
        raise SettingsError(errors)
    with db.atomic():
        merchant = Merchant.create(name=name, timezone=timezone, public_key=new_public_key(), api_key=new_api_key(),
                                   postback_secret=new_postback_secret())
        audit.record(actor, "merchant.create", merchant, merchant=merchant.id,
                     summary={"name": name, "timezone": timezone}, ip=ip)
    return merchant


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
        audit.record(user, "user.reset_password", user, merchant=user.merchant_id, ip=ip)
    return user
