"""The install snippet a merchant pastes into their site, its parameters, and how to
compute ``data-signature`` in Python, PHP and JavaScript (SPEC §5): the v2 form first,
then the deprecated v1 (``signing``).

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
    ("data-signature", False, _l("\"v2=\" and the hex HMAC-SHA256 of the length-prefixed label and order id, "
                                 "keyed with your API key, computed on your server (see below). Required when "
                                 "you switched on signed labels.")),
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


def field(value):
    data = value.encode()
    return str(len(data)).encode() + b":" + data


def sign(api_key, label, order_id=""):
    message = b"v2\\x00" + field(label) + field(order_id)
    return "v2=" + hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()
'''

PHP_EXAMPLE = '''<?php
function sign(string $apiKey, string $label, string $orderId = ""): string {
    $message = "v2\\0" . strlen($label) . ":" . $label . strlen($orderId) . ":" . $orderId;
    return "v2=" . hash_hmac("sha256", $message, $apiKey);
}
'''

NODE_EXAMPLE = '''const crypto = require("crypto");

function field(value) {
  return Buffer.byteLength(value, "utf8") + ":" + value;
}

function sign(apiKey, label, orderId = "") {
  const message = "v2\\u0000" + field(label) + field(orderId);
  return "v2=" + crypto.createHmac("sha256", apiKey).update(message, "utf8").digest("hex");
}
'''

# v1 (deprecated: accepted until PLUGIN_SIGNATURE_V1_UNTIL): ambiguous when a label contains "|".
PYTHON_EXAMPLE_V1 = '''import hashlib
import hmac


def sign(api_key, label, order_id=""):
    message = f"{label}|{order_id}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()
'''

PHP_EXAMPLE_V1 = '''<?php
function sign(string $apiKey, string $label, string $orderId = ""): string {
    return hash_hmac("sha256", $label . "|" . $orderId, $apiKey);
}
'''

NODE_EXAMPLE_V1 = '''const crypto = require("crypto");

function sign(apiKey, label, orderId = "") {
  return crypto.createHmac("sha256", apiKey).update(`${label}|${orderId}`, "utf8").digest("hex");
}
'''

V2_EXAMPLES = (("python", "Python", PYTHON_EXAMPLE), ("php", "PHP", PHP_EXAMPLE),
               ("node", "JavaScript (Node)", NODE_EXAMPLE))
V1_EXAMPLES = (("python-v1", _l("Python (v1, deprecated)"), PYTHON_EXAMPLE_V1),
               ("php-v1", _l("PHP (v1, deprecated)"), PHP_EXAMPLE_V1),
               ("node-v1", _l("JavaScript (Node) (v1, deprecated)"), NODE_EXAMPLE_V1))
EXAMPLES = V2_EXAMPLES + V1_EXAMPLES  # what the installation page shows: v2 first


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
