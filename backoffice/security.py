"""Passwords, secrets, second factor and HTTP security headers.

Plain functions: the login view, the CLI and the demo all use these, so each rule has
one home.
"""
import base64
import hashlib
import hmac
import secrets
import time

import pyotp
from flask import Response, current_app, g, has_app_context, request
from flask_babel import gettext as _
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import RuleError

DEFAULT_HASH_METHOD = "scrypt"  # werkzeug's scrypt: a slow, memory-hard KDF
# Compared against when a login does not exist, so both paths cost the same.
_DUMMY_HASH = None


class PasswordError(RuleError):
    """A password that breaks the length rules; the message names the rule."""


def _hash_method():
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_METHOD", DEFAULT_HASH_METHOD)
    return DEFAULT_HASH_METHOD


def check_password_rules(password, min_length=8, max_length=256):
    if password is None or len(password) < min_length:
        raise PasswordError(_("The password must have at least %(n)d characters.", n=min_length))
    if len(password) > max_length:
        raise PasswordError(_("The password must have at most %(n)d characters.", n=max_length))


def hash_password(password):
    return generate_password_hash(password, method=_hash_method())


def verify_password(password_hash, password):
    """Check a password; with no stored hash, spend the same time and fail."""
    global _DUMMY_HASH
    if not password_hash:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_hex(16))
        check_password_hash(_DUMMY_HASH, password or "")
        return False
    return check_password_hash(password_hash, password or "")


def generate_password(length=20):
    return secrets.token_urlsafe(length)[:length]


def new_session_token():
    return secrets.token_hex(16)


def new_public_key():
    return "pk_" + secrets.token_hex(16)


def new_api_key():
    return "sk_" + secrets.token_hex(24)


def new_plugin_secret():
    """The key of a merchant's ``data-signature`` v2 (SPEC §13)."""
    return "psk_" + secrets.token_urlsafe(32)


def new_session_token_for_plugin():
    """A plugin session's token (``data-session``): a bearer secret, stored as its digest."""
    return "pst_" + secrets.token_urlsafe(32)


def new_postback_secret():
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_connector_token():
    return "ct_" + secrets.token_urlsafe(32)


def token_digest(token):
    """How bearer tokens are stored: a SHA-256 digest (they are long and random)."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equals(a, b):
    return hmac.compare_digest(str(a), str(b))


# --- second factor (TOTP, RFC 6238) -------------------------------------------------

def new_totp_secret():
    return pyotp.random_base32()


def totp_uri(secret, login, issuer="Backoffice"):
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=issuer)


def totp_time():
    """Now, in Unix seconds, for TOTP steps: the wall clock.

    An app whose config has a ``TOTP_CLOCK`` (a callable returning Unix seconds) uses
    that instead; tests set one to move to the next 30-second step without waiting.
    Production leaves it unset.
    """
    clock = current_app.config.get("TOTP_CLOCK") if has_app_context() else None
    return (clock or time.time)()


def totp_now(secret, at=None):
    return pyotp.TOTP(secret).at(totp_time() if at is None else at)


def totp_match_step(secret, code, last_step=0, at=None):
    """Return the time step a code belongs to (±1 step of drift), or None.

    A step at or before ``last_step`` is refused, so an observed code cannot be
    replayed. ``at`` (Unix seconds) defaults to :func:`totp_time`.
    """
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = totp_time() if at is None else at
    current = int(now // totp.interval)
    for step in (current, current - 1, current + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


# --- headers on every response ---------------------------------------------------------

HSTS = "max-age=31536000; includeSubDomains"


def csp_nonce():
    """This request's Content-Security-Policy nonce: made on first use, kept in ``g``.

    Templates call ``csp_nonce()`` for every inline ``<script>`` (and ``<style>``); the
    policy allows those and scripts from the site itself, nothing inline without it."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(18)
    return nonce


def back_office_csp(nonce):
    """The policy of every page but the plugin's (which frames itself per merchant): no
    ``'unsafe-inline'``; inline scripts and styles need this request's nonce, and inline
    event handlers and ``style=`` attributes are refused (templates use static files)."""
    return (
        f"default-src 'self'; img-src 'self' data:; style-src 'self' 'nonce-{nonce}'; "
        f"script-src 'self' 'nonce-{nonce}'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def is_https(req):
    """Whether the visitor reached us over https. Behind the documented TLS proxy
    (``PROXY_HOPS`` > 0) ProxyFix has already put the proxy's ``X-Forwarded-Proto``
    into the request's scheme; with ``PROXY_HOPS`` at 0 that header is never read
    (anyone can write it), so only a TLS connection to the app itself counts."""
    return req.scheme == "https"


def apply_security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    # A page that chose its own framing policy (the plugin page) keeps it.
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = back_office_csp(csp_nonce())
        headers.setdefault("X-Frame-Options", "DENY")
    if is_https(request):
        headers.setdefault("Strict-Transport-Security", HSTS)
    if request.path.startswith(("/admin", "/login", "/logout")):
        headers.setdefault("Cache-Control", "no-store")
    return response


# An uploaded picture served back (GIF prompts, payout and appeal receipts): never
# sniffed as anything else, and sandboxed (no script runs, nothing loads) if opened.
UPLOAD_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"}


def private_upload_response(data, content_type, filename):
    """A stored upload (a receipt) for the signed-in viewer or API client: inline, with
    :data:`UPLOAD_HEADERS`, kept by no cache."""
    response = Response(data, mimetype=content_type)
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers.update(UPLOAD_HEADERS)
    response.headers["Cache-Control"] = "private, no-store"
    return response
