"""A user's own settings (Settings → Profile): password change, interface language,
an operator's own time zone, the second factor (TOTP) with one-time recovery codes.

Plain functions, no HTTP: the settings page and the sign-in call them. Bad input
raises :class:`~backoffice.services.checks.SettingsError` naming the faulty field(s)
and nothing is saved; every change writes an audit entry (never a secret).
"""
import secrets

from flask_babel import gettext as _

from ..db import db
from ..i18n import languages
from ..models import RecoveryCode, User, utcnow
from ..security import PasswordError, check_password_rules, token_digest, verify_password
from . import accounts, audit
from .checks import SettingsError, check_not_common, check_timezone

RECOVERY_CODES = 10


# --- the guard ---------------------------------------------------------------------------

def _confirm(user, field, check, address):
    """A secret the user confirms (current password, TOTP code) goes through the one
    guard of every secret check (``accounts.check_secret``): counted per (login,
    address) and per address, refused for a while after too many failures."""
    try:
        return accounts.check_secret(user.login, address, check)
    except accounts.TooManyAttempts:
        raise SettingsError({field: accounts.too_many_attempts_message()}) from None


# --- password ----------------------------------------------------------------------------

def change_password(user, old_password, new_password, new_password_again, ip="", address=None):
    """Change one's own password: every other session of the user ends.

    The rules in order: the old password, the two new ones equal, the length rules
    (``accounts``), then the common-password list.
    """
    if not _confirm(user, "old_password", lambda: verify_password(user.password_hash, old_password), address):
        raise SettingsError({"old_password": _("The current password is wrong.")})
    if new_password != new_password_again:
        raise SettingsError({"new_password_again": _("The two new passwords differ.")})
    try:
        check_password_rules(new_password, *accounts._password_limits())
    except PasswordError as exc:
        raise SettingsError({"new_password": str(exc)}) from None
    check_not_common(new_password)
    try:
        with db.atomic():
            token = accounts.change_password(user, old_password, new_password, new_password_again)
            audit.record(user, "user.change_password", user, merchant=user.merchant_id, ip=ip)
    except accounts.AccountError as exc:
        raise SettingsError({exc.field: exc.message}) from None
    return token


# --- language and time zone --------------------------------------------------------------

def update_profile(user, language, timezone=None, ip=""):
    """Interface language for everyone; the time zone for operators only."""
    errors = {}
    if language not in languages():
        errors["language"] = _("Choose a language from the list.")
    values = {"language": language}
    if user.role == "operator":
        try:
            values["timezone"] = check_timezone(timezone)
        except SettingsError as exc:
            errors.update(exc.errors)
    if errors:
        raise SettingsError(errors)
    before = {k: getattr(user, k) for k in values}
    if before == values:
        return {}
    with db.atomic():
        User.update(values).where(User.id == user.id).execute()
        audit.record(user, "user.profile", user, merchant=user.merchant_id, summary={"before": before, "after": values},
                     ip=ip)
    for k, v in values.items():
        setattr(user, k, v)
    return values


# --- second factor -----------------------------------------------------------------------

def start_totp(user):
    """Start enrolling: the new secret waits on the server; returns the opaque reference
    the session keeps (``accounts.start_enrolment``)."""
    return accounts.start_enrolment(user)


def pending_totp_secret(user, ref):
    return accounts.enrolment_secret(user, ref)


def confirm_totp(user, ref, code, ip="", address=None):
    """Turn the second factor on: the code must come from the secret being enrolled
    (``ref``: the session's reference to it). Returns recovery codes."""
    secret = accounts.enrolment_secret(user, ref)
    try:
        ok = bool(secret) and accounts.check_second_factor(user, code, secret=secret, address=address)
    except accounts.TooManyAttempts:
        raise SettingsError({"code": accounts.too_many_attempts_message()}) from None
    if not ok:
        raise SettingsError({"code": _("The code is wrong. Check your authenticator app's clock.")})
    accounts.finish_enrolment(user)
    with db.atomic():
        codes = new_recovery_codes(user)
        audit.record(user, "user.totp_enable", user, merchant=user.merchant_id, ip=ip)
    return codes


def disable_totp(user, password, ip="", address=None):
    """A merchant user may turn the second factor off (operators must keep it)."""
    if user.role == "operator":
        raise SettingsError({"password": _("Operators must keep the second factor.")})
    if not _confirm(user, "password", lambda: verify_password(user.password_hash, password), address):
        raise SettingsError({"password": _("The current password is wrong.")})
    with db.atomic():
        User.update(totp_secret=None).where(User.id == user.id).execute()
        RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
        audit.record(user, "user.totp_disable", user, merchant=user.merchant_id, ip=ip)
    user.totp_secret = None


# --- recovery codes ----------------------------------------------------------------------

def _format_code(raw):
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def _normalise_code(code):
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def new_recovery_codes(user, count=RECOVERY_CODES):
    """Replace the user's recovery codes; the plain codes are returned once (80 bits each)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = ["".join(secrets.choice(alphabet) for _i in range(16)) for _n in range(count)]
    with db.atomic():
        RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
        for code in codes:
            RecoveryCode.create(user=user.id, code_hash=token_digest(code))
    return [_format_code(c) for c in codes]


def renew_recovery_codes(user, password, ip="", address=None):
    """New recovery codes (returned once; the old ones stop working), audited. The
    current password confirms it; only with the second factor on."""
    if not user.totp_secret:
        raise SettingsError({"password": _("The second factor is off.")})
    if not _confirm(user, "password", lambda: verify_password(user.password_hash, password), address):
        raise SettingsError({"password": _("The current password is wrong.")})
    with db.atomic():
        codes = new_recovery_codes(user)
        audit.record(user, "user.recovery_codes_new", user, merchant=user.merchant_id, ip=ip)
    return codes


def use_recovery_code(user, code):
    """Spend one recovery code (a conditional UPDATE: a code works once, even in a race)."""
    normal = _normalise_code(code)
    if len(normal) != 16:
        return False
    updated = (RecoveryCode.update(used_at=utcnow())
               .where((RecoveryCode.user == user.id) & (RecoveryCode.code_hash == token_digest(normal))
                      & RecoveryCode.used_at.is_null())
               .execute())
    if updated == 1:
        audit.record(user, "user.recovery_code_used", user, merchant=user.merchant_id,
                     summary={"left": remaining_recovery_codes(user)})
    return updated == 1


def remaining_recovery_codes(user):
    return RecoveryCode.select().where((RecoveryCode.user == user.id) & RecoveryCode.used_at.is_null()).count()
