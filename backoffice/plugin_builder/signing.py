"""``data-signature``: hex HMAC-SHA256 of ``label|order_id`` keyed with the merchant's
API key (SPEC §5). It stops a visitor from editing the label in the page to claim a
payment for another account."""
import hashlib
import hmac


def label_signature(api_key, label, order_id=None):
    message = f"{label}|{order_id or ''}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


def signature_ok(api_key, label, order_id, signature):
    if not signature or not isinstance(signature, str):
        return False
    return hmac.compare_digest(label_signature(api_key, label, order_id), signature.strip().lower())
