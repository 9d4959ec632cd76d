"""Accounts: creating users, the two sign-in steps, lock-out, ending sessions.

No Flask-Admin and no HTTP here: the login view, the CLI and the demo call these.
"""
import datetime
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from ..db import db
from ..errors import FieldError
from ..models import ROLES, Merchant, SecretAttempt, User, utcnow
from ..security import (
    PasswordError,
    check_password_rules,
    constant_time_equals,
    hash_password,
    new_session_token,
    new_totp_secret,
    token_digest,
    totp_match_step,
    verify_password,
)

EVERY_ACCOUNT = "*"  # the SecretAttempt row that counts an address's failures on any account


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


# --- the one guard of every secret check (issue 17) -----------------------------------------

class TooManyAttempts(Exception):
    """Too many failed checks from this address (for this account, or for any)."""


def too_many_attempts_message():
    return _("Too many failed attempts: try again later.")


def _rows(account, address):
    keys = [(EVERY_ACCOUNT, address)] + ([(account, address)] if account else [])
    return keys


def _key_filter(account, address):
    where = None
    for acc, addr in _rows(account, address):
        clause = (SecretAttempt.account == acc) & (SecretAttempt.address == addr)
        where = clause if where is None else (where | clause)
    return where


def attempts_locked(account, address, now=None):
    """True while (account, address) or the address as a whole is locked."""
    now = now or utcnow()
    return (SecretAttempt.select().where(_key_filter(account, address) & (SecretAttempt.locked_until > now))
            .exists())


def record_failed_attempt(account, address, now=None):
    """Count a failure for (account, address) and for the address; lock at the limit,
    each further failure doubling the delay. The counts are atomic upserts."""
    cfg = current_app.config
    now = now or utcnow()
    base, cap = cfg["LOGIN_LOCKOUT_SECONDS"], cfg["LOGIN_LOCKOUT_MAX_SECONDS"]
    forget = now - datetime.timedelta(seconds=cap)
    for acc, addr in _rows(account, address):
        maximum = cfg["LOGIN_ADDRESS_MAX_FAILURES"] if acc == EVERY_ACCOUNT else cfg["LOGIN_MAX_FAILURES"]
        with db.atomic():
            # Failures older than the longest lock are forgotten.
            SecretAttempt.delete().where(
                (SecretAttempt.account == acc) & (SecretAttempt.address == addr)
                & (SecretAttempt.last_failed_at < forget)
                & (SecretAttempt.locked_until.is_null() | (SecretAttempt.locked_until <= now))
            ).execute()
            rows = list(
                SecretAttempt.insert(account=acc, address=addr, failures=1, last_failed_at=now)
                .on_conflict(conflict_target=[SecretAttempt.account, SecretAttempt.address],
                             update={SecretAttempt.failures: SecretAttempt.failures + 1,
                                     SecretAttempt.last_failed_at: now})
                .returning(SecretAttempt.failures).tuples().execute()
            )
            failures = rows[0][0]
            if failures >= maximum:
                delay = min(base * 2 ** min(failures - maximum, 32), cap)
                SecretAttempt.update(locked_until=now + datetime.timedelta(seconds=delay)).where(
                    (SecretAttempt.account == acc) & (SecretAttempt.address == addr)
                    & (SecretAttempt.failures == failures)
                ).execute()


def clear_failed_attempts(account, address):
    """A complete sign-in forgets the pair's failures (not the address's)."""
    SecretAttempt.delete().where((SecretAttempt.account == account) & (SecretAttempt.address == address)).execute()


def forget_account_failures(login):
    """A password reset (a link an operator issued) proves control of the account:
    forget its failures from every address (the addresses' own counts stay)."""
    SecretAttempt.delete().where(SecretAttempt.account == normalise_login(login)).execute()


def check_secret(account, address, check, now=None):
    """The guard every check of a secret goes through: raise :class:`TooManyAttempts`
    while (account, address) or the address is locked (``check`` is not run: no answer
    leaks); else run ``check()`` and count a failure when it is false.

    ``account``: the normalised login (whether it exists or not), or None when the
    secret names no account (a reset token); ``address``: the client's address group
    (``extensions.address_key``), passed in by the adapter.
    """
    account = normalise_login(account) if account else None
    address = address or "unknown"
    if attempts_locked(account, address, now):
        raise TooManyAttempts()
    ok = bool(check())
    if not ok:
        record_failed_attempt(account, address, now)
    return ok


def check_password_step(login, password, address=None):
    """The password step. Unknown logins are counted, locked and answered exactly like
    existing ones, and cost the same (a check against a dummy hash)."""
    user = User.get_or_none(User.login == normalise_login(login))
    try:
        ok = check_secret(login, address, lambda: verify_password(user.password_hash if user else None, password))
    except TooManyAttempts:
        return SignIn(False, reason="locked")
    if not ok or user is None:
        locked = attempts_locked(normalise_login(login), address or "unknown")
        return SignIn(False, reason="locked" if locked else "invalid")
    if not user.active or (user.merchant_id is not None and not user.merchant.active):
        return SignIn(False, user=user, reason="disabled")
    if requires_second_factor(user):
        return SignIn(True, user=user, needs_second_factor=True, needs_enrolment=not user.totp_secret)
    return SignIn(True, user=user)


def check_second_factor(user, code, secret=None, address=None):
    """Accept a TOTP code once, through the guard (:class:`TooManyAttempts` while
    locked). ``secret`` is given while enrolling (not yet stored)."""
    user = User.get_by_id(user.id)
    secret = secret or user.totp_secret
    found = {}

    def matches():
        found["step"] = totp_match_step(secret, code, user.totp_last_step) if secret else None
        return found["step"] is not None

    if not check_secret(user.login, address, matches):
        return False
    step = found["step"]
    # Conditional update: two requests racing with the same code cannot both pass.
    updated = (
        User.update(totp_last_step=step, totp_secret=secret)
        .where((User.id == user.id) & (User.totp_last_step < step))
        .execute()
    )
    return updated == 1


def record_login(user, address=None):
    User.update(last_login_at=utcnow(), failed_logins=0, locked_until=None).where(User.id == user.id).execute()
    clear_failed_attempts(user.login, address or "unknown")


# --- a second factor being enrolled (the secret stays on the server) ---------------------

def start_enrolment(user, now=None):
    """Keep a new TOTP secret on the user's row for a while; return the opaque reference
    the enrolling session holds (the secret itself never goes into the cookie). A new
    start replaces the previous one."""
    ref = secrets.token_urlsafe(24)
    until = (now or utcnow()) + datetime.timedelta(seconds=current_app.config["TOTP_ENROLMENT_SECONDS"])
    User.update(totp_pending_secret=new_totp_secret(), totp_pending_ref=token_digest(ref),
                totp_pending_until=until).where(User.id == user.id).execute()
    return ref


def enrolment_secret(user, ref, now=None):
    """The secret being enrolled, when ``ref`` is this enrolment's and it is not stale."""
    row = User.get_by_id(user.id)
    if not ref or not row.totp_pending_secret or not row.totp_pending_ref:
        return None
    if row.totp_pending_until is None or row.totp_pending_until < (now or utcnow()):
        return None
    return row.totp_pending_secret if constant_time_equals(row.totp_pending_ref, token_digest(ref)) else None


def finish_enrolment(user):
    User.update(totp_pending_secret=None, totp_pending_ref=None, totp_pending_until=None).where(
        User.id == user.id).execute()


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
