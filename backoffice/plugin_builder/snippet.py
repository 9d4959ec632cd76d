"""The install snippet a merchant pastes into their site, its parameters, and the
server-side examples the Plugin installation page shows (SPEC §5, §13), the new way
first:

1. **Plugin sessions** (recommended): the merchant's server creates a session with its
   API key (``POST /api/v1/plugin/sessions``) and puts the token in the snippet
   (``data-session``): no label, no signature, and it expires. Examples in Python
   (urllib), PHP (a stream context) and Node 18+ (global ``fetch``).
2. **Signed labels v2** (``data-signature="v2=<expires>.<hex>"``), keyed by the
   merchant's **plugin secret** (Settings → System), never the API key.
3. Deprecated, accepted until ``PLUGIN_SIGNATURE_V1_UNTIL``: the interim ``v2=<hex>``
   and v1, both keyed by the API key (``signing``).

Every example is the exact text the page shows; the tests run them (Python in-process,
PHP with ``php``, Node with ``node``): the session examples against a running server,
the signatures against ``signing.signature_ok``.
"""
from markupsafe import escape
from flask_babel import lazy_gettext as _l

CONTAINER_ID = "backoffice-deposit"
SESSIONS_PATH = "/api/v1/plugin/sessions"
# The "required" column: data-label is required unless the snippet has data-session.
UNLESS_SESSION = "unless-session"

PARAMETERS = (
    ("data-merchant", True, _l("Your public key (already filled in). Not secret.")),
    ("data-session", False, _l("The token of a plugin session your server created (POST /api/v1/plugin/sessions) "
                               "for this visitor. It names the label and the order and expires: with it, leave "
                               "out data-label, data-order-id and data-signature.")),
    ("data-label", UNLESS_SESSION, _l("The visitor's user id on your site: the deposit is credited to this label.")),
    ("data-order-id", False, _l("Your own order or session id; sent back in the event and the postback.")),
    ("data-payment-systems", False, _l("Comma-separated payment system codes to offer (default: all enabled).")),
    ("data-lang", False, _l("Language of the plugin: en, ru, bn, hi or ur (default: the visitor's browser "
                            "languages, then your default plugin language).")),
    ("data-signature", False, _l("\"v2=\", the expiry (Unix time in seconds), \".\" and the hex HMAC-SHA256 of the "
                                 "length-prefixed label, order id and expiry, keyed with your plugin secret (never "
                                 "the API key), computed on your server (see below). Required when you switched on "
                                 "signed labels and use no session.")),
    ("data-container", False, _l("The id of the element to render into (default: right after the script tag).")),
    ("data-success-url", False, _l("Where the \"redirect\" behaviour sends the visitor after a completed deposit. "
                                   "Must be on one of your allowed origins.")),
    ("data-fail-url", False, _l("Where \"redirect\" sends the visitor after a refused payment (allowed origins "
                                "only).")),
    ("data-pending-url", False, _l("Where \"redirect\" sends the visitor when the payment is pending or still "
                                   "accumulating (allowed origins only).")),
)

# --- 1. plugin sessions: the merchant's server asks for a token -------------------------

PYTHON_SESSION_EXAMPLE = '''import json
import urllib.request


def create_session(base_url, api_key, label, order_id=None, amount=None, currency=None):
    """A plugin session for one visitor: the token to put in data-session."""
    body = {"label": label}
    if order_id:
        body["order_id"] = order_id
    if amount is not None:
        body["amount"] = amount  # a string such as "500.00"
        body["currency"] = currency
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/v1/plugin/sessions",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + api_key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # raises HTTPError unless 2xx
        return json.load(response)["token"]
'''

PHP_SESSION_EXAMPLE = '''<?php
// A plugin session for one visitor: the token to put in data-session.
function create_session(string $baseUrl, string $apiKey, string $label, ?string $orderId = null,
                        ?string $amount = null, ?string $currency = null): string {
    $body = ["label" => $label];
    if ($orderId !== null && $orderId !== "") {
        $body["order_id"] = $orderId;
    }
    if ($amount !== null) {
        $body["amount"] = $amount; // a string such as "500.00"
        $body["currency"] = $currency;
    }
    $context = stream_context_create(["http" => [
        "method" => "POST",
        "header" => "Authorization: Bearer " . $apiKey . "\\r\\nContent-Type: application/json\\r\\n",
        "content" => json_encode($body),
        "timeout" => 10,
        "ignore_errors" => true,
    ]]);
    $response = file_get_contents(rtrim($baseUrl, "/") . "/api/v1/plugin/sessions", false, $context);
    $status = isset($http_response_header[0]) ? (int) explode(" ", $http_response_header[0])[1] : 0;
    if ($response === false || $status !== 201) {
        throw new RuntimeException("The plugin session was not created (HTTP " . $status . "): " . $response);
    }
    return json_decode($response, true)["token"];
}
'''

NODE_SESSION_EXAMPLE = '''// Node 18 or later (the global fetch). A plugin session for one visitor:
// the token to put in data-session.
async function createSession(baseUrl, apiKey, label, orderId = null, amount = null, currency = null) {
  const body = { label };
  if (orderId) body.order_id = orderId;
  if (amount !== null) {
    body.amount = amount; // a string such as "500.00"
    body.currency = currency;
  }
  const response = await fetch(baseUrl.replace(/\\/+$/, "") + "/api/v1/plugin/sessions", {
    method: "POST",
    headers: { Authorization: "Bearer " + apiKey, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) {
    throw new Error("The plugin session was not created (HTTP " + response.status + "): " + await response.text());
  }
  return (await response.json()).token;
}
'''

# --- 2. signed labels v2: keyed by the plugin secret, with an expiry --------------------

PYTHON_EXAMPLE = '''import hashlib
import hmac
import time


def field(value):
    data = value.encode()
    return str(len(data)).encode() + b":" + data


def sign(plugin_secret, label, order_id="", expires=None):
    """data-signature for one page view; expires: Unix time (at most 7 days ahead)."""
    if expires is None:
        expires = int(time.time()) + 3600  # an hour from now
    message = b"v2\\x00" + field(label) + field(order_id) + field(str(expires))
    digest = hmac.new(plugin_secret.encode(), message, hashlib.sha256).hexdigest()
    return f"v2={expires}.{digest}"
'''

PHP_EXAMPLE = '''<?php
function field(string $value): string {
    return strlen($value) . ":" . $value; // strlen counts bytes
}

// data-signature for one page view; $expires: Unix time (at most 7 days ahead).
function sign(string $pluginSecret, string $label, string $orderId = "", ?int $expires = null): string {
    $expires = $expires ?? time() + 3600; // an hour from now
    $message = "v2\\0" . field($label) . field($orderId) . field((string) $expires);
    return "v2=" . $expires . "." . hash_hmac("sha256", $message, $pluginSecret);
}
'''

NODE_EXAMPLE = '''const crypto = require("crypto");

function field(value) {
  return Buffer.byteLength(value, "utf8") + ":" + value;
}

// data-signature for one page view; expires: Unix time (at most 7 days ahead).
function sign(pluginSecret, label, orderId = "", expires = Math.floor(Date.now() / 1000) + 3600) {
  const message = "v2\\u0000" + field(label) + field(orderId) + field(String(expires));
  const digest = crypto.createHmac("sha256", pluginSecret).update(message, "utf8").digest("hex");
  return "v2=" + expires + "." + digest;
}
'''

# --- 3. deprecated (accepted until PLUGIN_SIGNATURE_V1_UNTIL), keyed by the API key -----

# The interim v2 of issue 17: length-prefixed, but no expiry and keyed by the API key.
PYTHON_EXAMPLE_INTERIM = '''import hashlib
import hmac


def field(value):
    data = value.encode()
    return str(len(data)).encode() + b":" + data


def sign(api_key, label, order_id=""):
    message = b"v2\\x00" + field(label) + field(order_id)
    return "v2=" + hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()
'''

PHP_EXAMPLE_INTERIM = '''<?php
function sign(string $apiKey, string $label, string $orderId = ""): string {
    $message = "v2\\0" . strlen($label) . ":" . $label . strlen($orderId) . ":" . $orderId;
    return "v2=" . hash_hmac("sha256", $message, $apiKey);
}
'''

NODE_EXAMPLE_INTERIM = '''const crypto = require("crypto");

function field(value) {
  return Buffer.byteLength(value, "utf8") + ":" + value;
}

function sign(apiKey, label, orderId = "") {
  const message = "v2\\u0000" + field(label) + field(orderId);
  return "v2=" + crypto.createHmac("sha256", apiKey).update(message, "utf8").digest("hex");
}
'''

# v1: ambiguous when a label contains "|".
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

SESSION_EXAMPLES = (("python-session", "Python", PYTHON_SESSION_EXAMPLE),
                    ("php-session", "PHP", PHP_SESSION_EXAMPLE),
                    ("node-session", _l("JavaScript (Node 18 or later)"), NODE_SESSION_EXAMPLE))
V2_EXAMPLES = (("python", "Python", PYTHON_EXAMPLE), ("php", "PHP", PHP_EXAMPLE),
               ("node", "JavaScript (Node)", NODE_EXAMPLE))
INTERIM_EXAMPLES = (("python-interim", _l("Python (v2 without expiry, API key, deprecated)"), PYTHON_EXAMPLE_INTERIM),
                    ("php-interim", _l("PHP (v2 without expiry, API key, deprecated)"), PHP_EXAMPLE_INTERIM),
                    ("node-interim", _l("JavaScript (Node) (v2 without expiry, API key, deprecated)"),
                     NODE_EXAMPLE_INTERIM))
V1_EXAMPLES = (("python-v1", _l("Python (v1, deprecated)"), PYTHON_EXAMPLE_V1),
               ("php-v1", _l("PHP (v1, deprecated)"), PHP_EXAMPLE_V1),
               ("node-v1", _l("JavaScript (Node) (v1, deprecated)"), NODE_EXAMPLE_V1))
DEPRECATED_EXAMPLES = INTERIM_EXAMPLES + V1_EXAMPLES
# Everything the installation page shows, in its order: sessions, v2, the deprecated forms.
EXAMPLES = SESSION_EXAMPLES + V2_EXAMPLES + DEPRECATED_EXAMPLES


def loader_url(base_url):
    return base_url.rstrip("/") + "/plugin/v1/loader.js"


def snippet(merchant, base_url, label="USER_ID", order_id="ORDER_ID", signature=None, lang=None,
            container=CONTAINER_ID, extra=None, session=None):
    """The HTML to paste: a container and the loader's script tag.

    With ``session`` (a plugin session's token, or a placeholder) the tag carries
    ``data-session`` and no label, order id or signature: the session names them.
    """
    attrs = [("src", loader_url(base_url)), ("data-merchant", merchant.public_key)]
    if session:
        attrs.append(("data-session", session))
    else:
        attrs.append(("data-label", label))
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
