"""``data-signature``: it stops a visitor from editing the label in the page to claim a
payment for another account (SPEC §5, §13).

* **v2** (``v2=<hex>``, the form to use): HMAC-SHA256, keyed with the merchant's API
  key, of ``"v2" NUL`` followed by each field length-prefixed — the UTF-8 byte length
  in decimal, ``:``, the bytes — label first, then the order id (empty when none).
  No two (label, order_id) pairs give the same message, whatever they contain. (SPEC
  §13's final v2 is keyed by a separate ``plugin_secret`` and carries an expiry; that
  secret arrives with issue 20. Until then v2 is this message format, keyed by the
  key v1 uses.)
* **v1** (bare hex, deprecated): HMAC-SHA256 of ``label|order_id`` with the API key.
  Ambiguous: a label containing ``|`` signs every other split of the same text
  (``("a|b", "")`` is ``("a", "b|")``). Accepted until ``PLUGIN_SIGNATURE_V1_UNTIL``
  (a ``YYYY-MM-DD`` day, UTC, inclusive; empty: refused from now), then refused.
"""
import datetime
import hashlib
import hmac

from flask import current_app, has_app_context

V2_PREFIX = "v2="
V1_ACCEPTED_UNTIL = "2027-06-30"  # the default end of v1's deprecation period


def _field(value):
    data = (value or "").encode()
    return str(len(data)).encode() + b":" + data


def label_signature_v2(api_key, label, order_id=None):
    message = b"v2\x00" + _field(label) + _field(order_id)
    return V2_PREFIX + hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


def label_signature_v1(api_key, label, order_id=None):
    message = f"{label}|{order_id or ''}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


label_signature = label_signature_v2  # what the back office itself hands out


def v1_accepted(today=None):
    """Whether the deprecated v1 form is still accepted today (``PLUGIN_SIGNATURE_V1_UNTIL``)."""
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


def signature_ok(api_key, label, order_id, signature):
    if not signature or not isinstance(signature, str):
        return False
    signature = signature.strip().lower()
    if signature.startswith(V2_PREFIX):
        return hmac.compare_digest(label_signature_v2(api_key, label, order_id), signature)
    if not v1_accepted():
        return False
    return hmac.compare_digest(label_signature_v1(api_key, label, order_id), signature)
