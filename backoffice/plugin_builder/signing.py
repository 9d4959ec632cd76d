"""``data-signature``: it stops a visitor from editing the label in the page to claim a
payment for another account (SPEC §5, §13). A plugin session (``data-session``) is
the better way; a signature is for sites that render the snippet without calling us.

* **v2** (``v2=<expires>.<hex>``, the form to use): HMAC-SHA256, keyed with the
  merchant's **plugin secret** (never the API key: a key that signs pages must not also
  move money), of ``"v2" NUL`` followed by each field length-prefixed — the UTF-8 byte
  length in decimal, ``:``, the bytes — the label, the order id (empty when none), then
  the expiry (a Unix time in seconds, decimal). No two (label, order id, expiry)
  triples give the same message. Refused once the expiry has passed, or when it lies
  more than ``MAX_LIFETIME`` ahead (a signature meant to live for ever is what the
  expiry is there to stop). The plugin secret is rotated with 24 hours of overlap
  (``services.plugin_sessions.plugin_secrets``).
* Deprecated, accepted until ``PLUGIN_SIGNATURE_V1_UNTIL`` (a ``YYYY-MM-DD`` day, UTC,
  inclusive; empty: refused from now), both keyed with the API key:
  * the interim v2 without expiry (``v2=<hex>``: label and order id length-prefixed);
  * **v1** (bare hex): HMAC-SHA256 of ``label|order_id``. Ambiguous: a label containing
    ``|`` signs every other split of the same text (``("a|b", "")`` is ``("a", "b|")``).
"""
import datetime
import hashlib
import hmac
import re
import time

from flask import current_app, has_app_context

from ..services.plugin_sessions import plugin_secrets

V2_PREFIX = "v2="
V1_ACCEPTED_UNTIL = "2027-06-30"  # the default end of the deprecation period
MAX_LIFETIME = 7 * 24 * 3600  # seconds: the furthest expiry a v2 signature may carry
DEFAULT_LIFETIME = 24 * 3600  # what the back office's own examples sign for
V2_RE = re.compile(r"^v2=([0-9]{1,12})\.([0-9a-f]{64})$")
INTERIM_RE = re.compile(r"^v2=([0-9a-f]{64})$")


def _field(value):
    data = (value or "").encode()
    return str(len(data)).encode() + b":" + data


def _hmac(key, message):
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def label_signature_v2(plugin_secret, label, order_id=None, expires=None):
    """``v2=<expires>.<hex>``; ``expires`` (Unix seconds) defaults to a day from now."""
    expires = int(expires if expires is not None else time.time() + DEFAULT_LIFETIME)
    message = b"v2\x00" + _field(label) + _field(order_id) + _field(str(expires))
    return f"{V2_PREFIX}{expires}.{_hmac(plugin_secret, message)}"


def label_signature_interim(api_key, label, order_id=None):
    """The deprecated v2 form without expiry, keyed with the API key (``v2=<hex>``)."""
    return V2_PREFIX + _hmac(api_key, b"v2\x00" + _field(label) + _field(order_id))


def label_signature_v1(api_key, label, order_id=None):
    """The deprecated v1 form (bare hex of ``label|order_id``, keyed with the API key)."""
    return _hmac(api_key, f"{label}|{order_id or ''}".encode())


label_signature = label_signature_v2  # what the back office itself hands out


def v1_accepted(today=None):
    """Whether the deprecated forms are still accepted today (``PLUGIN_SIGNATURE_V1_UNTIL``)."""
    until = current_app.config.get("PLUGIN_SIGNATURE_V1_UNTIL", V1_ACCEPTED_UNTIL) if has_app_context() \
        else V1_ACCEPTED_UNTIL
    if not until:
        return False
    if isinstance(until, str):
        try:
            until = datetime.date.fromisoformat(until.strip())
        except ValueError:
            return False  # a setting nobody can read ends the deprecation: the safe side
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    return today <= until


def signature_ok(merchant, label, order_id, signature, now=None):
    """Whether ``signature`` signs (label, order id) for ``merchant`` now."""
    if not signature or not isinstance(signature, str):
        return False
    signature = signature.strip().lower()
    found = V2_RE.match(signature)
    if found:
        expires, clock = int(found.group(1)), (now or time.time())
        if not clock < expires <= clock + MAX_LIFETIME:
            return False
        return any(hmac.compare_digest(label_signature_v2(secret, label, order_id, expires), signature)
                   for secret in plugin_secrets(merchant))
    if not v1_accepted():
        return False
    if INTERIM_RE.match(signature):
        return hmac.compare_digest(label_signature_interim(merchant.api_key, label, order_id), signature)
    return hmac.compare_digest(label_signature_v1(merchant.api_key, label, order_id), signature)
