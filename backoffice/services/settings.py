"""Settings rules (issue 7): the profile, the merchant's system settings, secrets.

Plain functions, no HTTP: the settings pages call them. Bad input raises
:class:`SettingsError` naming the faulty field(s) and nothing is saved; every
change writes an audit entry (before / after, never a secret).

* Profile: password change (old password, the new one twice, length rules and a
  check against the bundled list of the most common passwords), interface language,
  an operator's own time zone, the second factor (TOTP) with one-time recovery codes.
* System (merchant owner, or an operator for any merchant): postback URL (the SSRF
  rules of ``netguard``), behaviour after payment, time zone, allowed origins, signed
  labels; operators only: delayed activation and its TTL (ignored when a merchant
  posts them). Postback secret and API key rotation (each new value is returned
  once, to be shown once). After a secret rotation the old one keeps signing, next
  to the new one, for :data:`SECRET_GRACE` (Standard Webhooks allows several
  signatures in ``webhook-signature``).
"""
import datetime
import functools
import os
import re
import secrets
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from flask import current_app, has_app_context
from flask_babel import gettext as _

from ..db import db
from ..models import AFTER_PAYMENT, Merchant, RecoveryCode, User, utcnow
from ..security import new_api_key, new_postback_secret, token_digest, new_totp_secret
from . import accounts, audit
from .netguard import validate_postback_url

SECRET_GRACE = datetime.timedelta(hours=24)
RECOVERY_CODES = 10
MERCHANT_FIELDS = ("postback_url", "after_payment", "after_payment_url", "timezone", "allowed_origins",
                   "require_signed_labels")
OPERATOR_FIELDS = ("delayed_activation", "pending_activation_ttl")
MAX_ORIGINS = 50
HOST_RE = re.compile(r"^[a-z0-9.-]{1,253}$")
TTL_RANGE = (1, 24 * 60)  # minutes
COMMON_PASSWORDS_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "common_passwords.txt")


class SettingsError(ValueError):
    """Bad input; ``errors`` maps each faulty field to its message."""

    def __init__(self, errors):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def _languages():
    return current_app.config["LANGUAGES"] if has_app_context() else ["en", "ru"]


@functools.lru_cache(maxsize=1)
def timezone_names():
    return tuple(sorted(available_timezones()))


def check_timezone(name, field="timezone"):
    name = (name or "").strip()
    if name not in set(timezone_names()):
        raise SettingsError({field: _("Choose a time zone from the list.")})
    return name


# --- passwords ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def common_passwords():
    with open(COMMON_PASSWORDS_FILE, encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip() and not line.startswith("#"))


def check_not_common(password, field="new_password"):
    if (password or "").strip().lower() in common_passwords():
        raise SettingsError({field: _("This password is one of the most common ones; choose another.")})


def change_password(user, old_password, new_password, new_password_again, ip=""):
    """Change one's own password: every other session of the user ends.

    The rules in order: the old password, the two new ones equal, the length rules
    (``accounts``), then the common-password list.
    """
    from ..security import PasswordError, check_password_rules, verify_password

    if not verify_password(user.password_hash, old_password):
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


# --- profile -----------------------------------------------------------------------------

def update_profile(user, language, timezone=None, ip=""):
    """Interface language for everyone; the time zone for operators only."""
    errors = {}
    if language not in _languages():
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

def start_totp():
    return new_totp_secret()


def confirm_totp(user, secret, code, ip=""):
    """Turn the second factor on: the code must come from ``secret``. Returns recovery codes."""
    if not secret or not accounts.check_second_factor(user, code, secret=secret):
        raise SettingsError({"code": _("The code is wrong. Check your authenticator app's clock.")})
    with db.atomic():
        codes = new_recovery_codes(user)
        audit.record(user, "user.totp_enable", user, merchant=user.merchant_id, ip=ip)
    return codes


def disable_totp(user, password, ip=""):
    """A merchant user may turn the second factor off (operators must keep it)."""
    from ..security import verify_password

    if user.role == "operator":
        raise SettingsError({"password": _("Operators must keep the second factor.")})
    if not verify_password(user.password_hash, password):
        raise SettingsError({"password": _("The current password is wrong.")})
    with db.atomic():
        User.update(totp_secret=None).where(User.id == user.id).execute()
        RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
        audit.record(user, "user.totp_disable", user, merchant=user.merchant_id, ip=ip)
    user.totp_secret = None


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


# --- system settings ---------------------------------------------------------------------

def normalise_origin(value):
    """``scheme://host[:port]`` (http or https, no path, query or credentials), lower case."""
    raw = (value or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    # The plugin's own check (plugin_builder.config.ORIGIN_RE): a DNS name or IPv4
    # address (internationalised names in their xn-- form), no IPv6 literal.
    if not HOST_RE.match(host) or host.startswith((".", "-")) or host.endswith((".", "-")) or ".." in host:
        return None
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port and port != default else "")


def _url_origin(url):
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return normalise_origin(f"{parts.scheme}://{parts.netloc}")


def parse_origins(text):
    """One origin per line (or comma separated); a bad one names its line."""
    items = [item for line in (text or "").replace(",", "\n").splitlines() if (item := line.strip())]
    origins = []
    for n, item in enumerate(items, 1):
        origin = normalise_origin(item)
        if origin is None:
            raise SettingsError({"allowed_origins": _(
                "Line %(n)d (%(value)s) is not an origin: write the scheme and host, e.g. https://shop.example.com, "
                "optionally with a port, and no path.", n=n, value=item[:100])})
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise SettingsError({"allowed_origins": _("At most %(n)d origins.", n=MAX_ORIGINS)})
    return origins


def _as_bool(value):
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "y", "yes", "on", "true")


def _check_system(merchant, values, operator):
    """The cleaned values that change, or SettingsError listing every faulty field."""
    allowed = MERCHANT_FIELDS + (OPERATOR_FIELDS if operator else ())
    errors, clean = {}, {}
    for name in allowed:
        if name not in values:
            continue
        value = values[name]
        try:
            if name == "postback_url":
                value = (value or "").strip()
                if value:
                    try:
                        value = validate_postback_url(value)
                    except ValueError as exc:
                        raise SettingsError({name: _("Postback URL: %(reason)s", reason=str(exc))}) from None
            elif name == "after_payment":
                if value not in AFTER_PAYMENT:
                    raise SettingsError({name: _("Choose what happens after payment.")})
            elif name == "after_payment_url":
                value = (value or "").strip()
                parts = urlsplit(value) if value else None
                if value and (parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000):
                    raise SettingsError({name: _("The redirect URL must be an http(s) address.")})
            elif name == "timezone":
                value = check_timezone(value)
            elif name == "allowed_origins":
                value = parse_origins(value) if isinstance(value, str) else parse_origins("\n".join(value or []))
            elif name in ("require_signed_labels", "delayed_activation"):
                value = _as_bool(value)
            elif name == "pending_activation_ttl":
                try:
                    value = int(str(value).strip())
                except ValueError:
                    value = None
                if value is None or not TTL_RANGE[0] <= value <= TTL_RANGE[1]:
                    raise SettingsError({name: _("The waiting time must be %(lo)d to %(hi)d minutes.",
                                                 lo=TTL_RANGE[0], hi=TTL_RANGE[1])})
        except SettingsError as exc:
            errors.update(exc.errors)
            continue
        clean[name] = value
    after = clean.get("after_payment", merchant.after_payment)
    url = clean.get("after_payment_url", merchant.after_payment_url)
    if after == "redirect" and "after_payment_url" not in errors and "allowed_origins" not in errors:
        origins = clean.get("allowed_origins", merchant.allowed_origins or [])
        if not url:
            errors["after_payment_url"] = _("Give the URL to redirect to.")
        elif _url_origin(url) not in origins:
            # The plugin only redirects to the merchant's own sites (SPEC §5).
            errors["after_payment_url"] = _("The redirect URL must be on one of the allowed origins.")
    if errors:
        raise SettingsError(errors)
    return {k: v for k, v in clean.items() if getattr(merchant, k) != v}


def update_system(merchant, values, actor, operator=False, ip=""):
    """Save the system settings; returns the changed fields ({} when nothing changed).

    Only the merchant fields are read from ``values`` (plus the operator-only ones
    when ``operator``): anything else posted is ignored.
    """
    changes = _check_system(merchant, values, operator)
    if not changes:
        return {}
    before = {k: getattr(merchant, k) for k in changes}
    with db.atomic():
        Merchant.update(changes).where(Merchant.id == merchant.id).execute()
        for k, v in changes.items():
            setattr(merchant, k, v)
        if "timezone" in changes:
            from . import statistics

            if hasattr(statistics, "rebuild_days"):
                statistics.rebuild_days(merchant)
        audit.record(actor, "merchant.settings", merchant, merchant=merchant.id,
                     summary={"before": before, "after": changes}, ip=ip)
    return changes


def rotate_postback_secret(merchant, actor, ip="", grace=SECRET_GRACE, now=None):
    """A new postback secret (returned once); the old one signs too until the grace ends."""
    now = now or utcnow()
    secret = new_postback_secret()
    with db.atomic():
        Merchant.update(postback_secret=secret, previous_postback_secret=merchant.postback_secret,
                        previous_postback_secret_until=now + grace).where(Merchant.id == merchant.id).execute()
        audit.record(actor, "merchant.rotate_postback_secret", merchant, merchant=merchant.id,
                     summary={"grace_until": (now + grace).isoformat(timespec="seconds")}, ip=ip)
    merchant.previous_postback_secret, merchant.previous_postback_secret_until = merchant.postback_secret, now + grace
    merchant.postback_secret = secret
    return secret


def signing_secrets(merchant, now=None):
    """The secrets a postback is signed with now: the current one, and the previous one
    while its grace period lasts."""
    now = now or utcnow()
    out = [merchant.postback_secret]
    if (merchant.previous_postback_secret and merchant.previous_postback_secret_until
            and merchant.previous_postback_secret_until > now):
        out.append(merchant.previous_postback_secret)
    return out


def rotate_api_key(merchant, actor, ip=""):
    """A new merchant API key (returned once); the old one stops working at once."""
    key = new_api_key()
    with db.atomic():
        Merchant.update(api_key=key).where(Merchant.id == merchant.id).execute()
        audit.record(actor, "merchant.rotate_api_key", merchant, merchant=merchant.id, ip=ip)
    merchant.api_key = key
    return key
