"""Accounts: creating users, the two sign-in steps, lock-out, ending sessions.

No Flask-Admin and no HTTP here: the login view, the CLI and the demo call these.
"""
import datetime
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from ..db import db
from ..errors import FieldError
from ..models import ROLES, Merchant, User, utcnow
from ..security import (
    PasswordError,
    check_password_rules,
    hash_password,
    new_session_token,
    new_totp_secret,
    totp_match_step,
    verify_password,
)


class AccountError(FieldError):
    """Bad input for an account; ``field`` names the faulty field."""


def normalise_login(login):
    return (login or "").strip().lower()


def _password_limits():
    cfg = current_app.config
    return cfg.get("PASSWORD_MIN_LENGTH", 8), cfg.get("PASSWORD_MAX_LENGTH", 256)


def create_user(login, password, role, merchant=None, language="en", totp_secret=None, timezone=None):
    """Create a user. Operators always get a TOTP secret (they must use a second factor)."""
    login = normalise_login(login)
    if "@" not in login or len(login) > 254:
        raise AccountError("login", _("The login must be an e-mail address."))
    if role not in ROLES:
        raise AccountError("role", _("The role must be one of: %(roles)s.", roles=", ".join(ROLES)))
    if role == "operator" and merchant is not None:
        raise AccountError("merchant", _("An operator belongs to no merchant."))
    if role != "operator" and merchant is None:
        raise AccountError("merchant", _("A merchant user needs a merchant."))
    try:
        check_password_rules(password, *_password_limits())
    except PasswordError as exc:
        raise AccountError("password", str(exc)) from None
    if User.select().where(User.login == login).exists():
        raise AccountError("login", _("A user with this login exists already."))
    if role == "operator" and not totp_secret:
        totp_secret = new_totp_secret()
    return User.create(
        login=login,
        password_hash=hash_password(password),
        role=role,
        merchant=merchant if isinstance(merchant, Merchant) or merchant is None else Merchant.get_by_id(merchant),
        language=language,
        timezone=timezone,
        totp_secret=totp_secret,
        session_token=new_session_token(),
    )


@dataclass
class SignIn:
    """The outcome of the password step."""

    ok: bool
    user: User = None
    reason: str = ""  # invalid | locked | disabled
    needs_second_factor: bool = False
    needs_enrolment: bool = False


def requires_second_factor(user):
    return user.role == "operator" or bool(user.totp_secret)


def _register_failure(user):
    """Count a failed attempt atomically; lock the account at the limit."""
    cfg = current_app.config
    limit = cfg["LOGIN_MAX_FAILURES"]
    with db.atomic():
        User.update(failed_logins=User.failed_logins + 1).where(User.id == user.id).execute()
        lock_until = utcnow() + datetime.timedelta(seconds=cfg["LOGIN_LOCKOUT_SECONDS"])
        User.update(locked_until=lock_until, failed_logins=0).where(
            (User.id == user.id) & (User.failed_logins >= limit)
        ).execute()


def is_locked(user, now=None):
    return user.locked_until is not None and user.locked_until > (now or utcnow())


def check_password_step(login, password):
    user = User.get_or_none(User.login == normalise_login(login))
    if user is None:
        verify_password(None, password)  # same cost as a real check
        return SignIn(False, reason="invalid")
    if is_locked(user):
        return SignIn(False, user=user, reason="locked")
    if not verify_password(user.password_hash, password):
        _register_failure(user)
        user = User.get_by_id(user.id)
        return SignIn(False, user=user, reason="locked" if is_locked(user) else "invalid")
    if not user.active or (user.merchant_id is not None and not user.merchant.active):
        return SignIn(False, user=user, reason="disabled")
    if requires_second_factor(user):
        return SignIn(True, user=user, needs_second_factor=True, needs_enrolment=not user.totp_secret)
    return SignIn(True, user=user)


def check_second_factor(user, code, secret=None):
    """Accept a TOTP code once. ``secret`` is given while enrolling (not yet stored)."""
    user = User.get_by_id(user.id)
    if is_locked(user):
        return False
    secret = secret or user.totp_secret
    step = totp_match_step(secret, code, user.totp_last_step) if secret else None
    if step is None:
        _register_failure(user)
        return False
    # Conditional update: two requests racing with the same code cannot both pass.
    updated = (
        User.update(totp_last_step=step, totp_secret=secret)
        .where((User.id == user.id) & (User.totp_last_step < step))
        .execute()
    )
    return updated == 1


def record_login(user):
    User.update(last_login_at=utcnow(), failed_logins=0, locked_until=None).where(User.id == user.id).execute()


def end_all_sessions(user):
    """Replace the session token: every session signed with the old one stops working."""
    token = new_session_token()
    User.update(session_token=token).where(User.id == user.id).execute()
    user.session_token = token
    return token


def change_password(user, old_password, new_password, new_password_again):
    if not verify_password(user.password_hash, old_password):
        raise AccountError("old_password", _("The current password is wrong."))
    if new_password != new_password_again:
        raise AccountError("new_password_again", _("The two new passwords differ."))
    try:
        check_password_rules(new_password, *_password_limits())
    except PasswordError as exc:
        raise AccountError("new_password", str(exc)) from None
    User.update(password_hash=hash_password(new_password)).where(User.id == user.id).execute()
    return end_all_sessions(user)


def set_password(user, new_password):
    """Operator or CLI reset: no old password, but every session ends."""
    try:
        check_password_rules(new_password, *_password_limits())
    except PasswordError as exc:
        raise AccountError("password", str(exc)) from None
    User.update(password_hash=hash_password(new_password)).where(User.id == user.id).execute()
    return end_all_sessions(user)
