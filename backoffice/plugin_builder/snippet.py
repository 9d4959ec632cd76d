"""The install snippet a merchant pastes into their site, its parameters, and how to
compute ``data-signature`` in Python, PHP and JavaScript (SPEC §5).

The three examples are the exact text the Plugin installation page shows; the tests
run them (Python in-process, Node with ``node``, PHP with ``php`` when installed) and
compare with ``signing.signature_ok``.
"""
from markupsafe import escape
from flask_babel import lazy_gettext as _l

CONTAINER_ID = "backoffice-deposit"

PARAMETERS = (
    ("data-merchant", True, _l("Your public key (already filled in). Not secret.")),
    ("data-label", True, _l("The visitor's user id on your site: the deposit is credited to this label.")),
    ("data-order-id", False, _l("Your own order or session id; sent back in the event and the postback.")),
    ("data-payment-systems", False, _l("Comma-separated payment system codes to offer (default: all enabled).")),
    ("data-lang", False, _l("Language of the plugin: en or ru (default: the visitor's browser language).")),
    ("data-signature", False, _l("Hex HMAC-SHA256 of \"label|order_id\" keyed with your API key, computed on "
                                 "your server. Required when you switched on signed labels.")),
    ("data-container", False, _l("The id of the element to render into (default: right after the script tag).")),
    ("data-success-url", False, _l("Where the \"redirect\" behaviour sends the visitor after a completed deposit. "
                                   "Must be on one of your allowed origins.")),
    ("data-fail-url", False, _l("Where \"redirect\" sends the visitor after a refused payment (allowed origins "
                                "only).")),
    ("data-pending-url", False, _l("Where \"redirect\" sends the visitor when the payment is pending or still "
                                   "accumulating (allowed origins only).")),
)

PYTHON_EXAMPLE = '''import hashlib
import hmac


def sign(api_key, label, order_id=""):
    message = f"{label}|{order_id}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()
'''

PHP_EXAMPLE = '''<?php
function sign(string $apiKey, string $label, string $orderId = ""): string {
    return hash_hmac("sha256", $label . "|" . $orderId, $apiKey);
}
'''

NODE_EXAMPLE = '''const crypto = require("crypto");

function sign(apiKey, label, orderId = "") {
  return crypto.createHmac("sha256", apiKey).update(`${label}|${orderId}`, "utf8").digest("hex");
}
'''

EXAMPLES = (("python", "Python", PYTHON_EXAMPLE), ("php", "PHP", PHP_EXAMPLE), ("node", "JavaScript (Node)",
                                                                                  NODE_EXAMPLE))


def loader_url(base_url):
    return base_url.rstrip("/") + "/plugin/v1/loader.js"


def snippet(merchant, base_url, label="USER_ID", order_id="ORDER_ID", signature=None, lang=None,
            container=CONTAINER_ID, extra=None):
    """The HTML to paste: a container and the loader's script tag."""
    attrs = [("src", loader_url(base_url)), ("data-merchant", merchant.public_key), ("data-label", label)]
    if order_id:
        attrs.append(("data-order-id", order_id))
    if merchant.require_signed_labels and signature is None:
        signature = "SIGNATURE"
    if signature:
        attrs.append(("data-signature", signature))
    if lang:
        attrs.append(("data-lang", lang))
    attrs.append(("data-container", container))
    for name, value in (extra or {}).items():
        attrs.append((name, value))
    rendered = "".join(f'\n        {name}="{escape(value)}"' for name, value in attrs)
    return f'<div id="{escape(container)}"></div>\n<script async{rendered}></script>\n'
