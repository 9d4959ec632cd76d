"""The install snippet and the examples of the Plugin installation page (SPEC §5, §13).

The examples are the exact text the page shows, and these tests run them: Python
in-process, PHP with ``php``, Node with ``node``.

* plugin sessions: each language's ``create_session`` against the app served over real
  HTTP (``backoffice_url``), returning a token ``services.plugin_sessions.find`` accepts;
* signed labels v2 (the plugin secret, with an expiry), then the deprecated interim v2
  and v1 (the API key): compared with the server's own check, ``signing.signature_ok``.
"""
import html.parser
import shutil
import subprocess
import time
import urllib.error
from decimal import Decimal

import pytest
from browser_support import backoffice_url  # noqa: F401 - fixture

import factories
from backoffice.models import Merchant
from backoffice.plugin_builder import snippet as snippets
from backoffice.plugin_builder.signing import MAX_LIFETIME, label_signature, signature_ok
from backoffice.services import plugin_sessions

API_KEY = "sk_" + "5f" * 24
PLUGIN_SECRET = "pls_" + "a7" * 24
CASES = [("user-42", "order-7"), ("user-42", ""), ("Пётр|42", "заказ 1"), ("a b&c<d>", "x\"y"),
         ("বাংলা ব্যবহারকারী", "اردو")]
NODE = shutil.which("node")
PHP = shutil.which("php")


def merchant(**fields):
    """A merchant as signature_ok sees it (no database needed)."""
    values = dict(public_key="pk_test", api_key=API_KEY, plugin_secret=PLUGIN_SECRET, require_signed_labels=False,
                  plugin_secret_previous=None, plugin_secret_previous_until=None)
    values.update(fields)
    return Merchant(**values)


def source(examples, language):
    return next(text for code, _title, text in examples if code.split("-")[0] == language)


def run(command, text, suffix, tmp_path, call, *args, check=True):
    path = tmp_path / ("example" + suffix)
    path.write_text(text + call, encoding="utf-8")
    return subprocess.run(command + [str(path), *args], capture_output=True, text=True, timeout=60, check=check)


# --- signed labels v2: the plugin secret and an expiry ---------------------------------------

def python_sign(examples):
    namespace = {}
    exec(compile(source(examples, "python"), "example.py", "exec"), namespace)  # noqa: S102 - the page's example
    return namespace["sign"]


def check_v2(m, label, order_id, signature, expires):
    assert signature.startswith(f"v2={expires}."), signature
    assert signature_ok(m, label, order_id or None, signature), (label, order_id, signature)
    assert not signature_ok(m, label + "x", order_id or None, signature)
    assert not signature_ok(m, label, (order_id or "") + "x", signature)
    # Another merchant's secret, or the API key in the secret's place, signs nothing here.
    assert not signature_ok(merchant(plugin_secret="pls_" + "00" * 24), label, order_id or None, signature)


def test_python_v2_example_matches_the_server():
    m, sign = merchant(), python_sign(snippets.V2_EXAMPLES)
    expires = int(time.time()) + 600
    for label, order_id in CASES:
        check_v2(m, label, order_id, sign(PLUGIN_SECRET, label, order_id, expires), expires)
    # The default expiry (an hour) is accepted; a past one and one beyond the limit are not.
    assert signature_ok(m, "user-42", None, sign(PLUGIN_SECRET, "user-42"))
    assert not signature_ok(m, "user-42", None, sign(PLUGIN_SECRET, "user-42", "", int(time.time()) - 1))
    assert not signature_ok(m, "user-42", None,
                            sign(PLUGIN_SECRET, "user-42", "", int(time.time()) + MAX_LIFETIME + 600))
    # Keyed with the API key (the mistake the page warns about): refused.
    assert not signature_ok(m, "user-42", None, sign(API_KEY, "user-42", "", expires))


# The external examples: how each is run, and the lines that call its sign() with the
# arguments (every one; then only the secret and the label, for the default expiry).
RUNTIMES = {"node": (NODE, ".js"), "php": (PHP, ".php")}
V2_CALLS = {
    "node": ("\nconsole.log(sign(process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5])));\n",
             "\nconsole.log(sign(process.argv[2], process.argv[3]));\n"),
    "php": ("\necho sign($argv[1], $argv[2], $argv[3], (int) $argv[4]);\n", "\necho sign($argv[1], $argv[2]);\n"),
}


@pytest.mark.parametrize("language", sorted(RUNTIMES))
def test_external_v2_example_matches_the_server(tmp_path, language):
    interpreter, suffix = RUNTIMES[language]
    if interpreter is None:
        pytest.skip(f"{language} is not installed")
    text, (call, default_call) = source(snippets.V2_EXAMPLES, language), V2_CALLS[language]
    m, expires = merchant(), int(time.time()) + 600
    for label, order_id in CASES:
        done = run([interpreter], text, suffix, tmp_path, call, PLUGIN_SECRET, label, order_id, str(expires))
        check_v2(m, label, order_id, done.stdout.strip(), expires)
    default = run([interpreter], text, suffix, tmp_path, default_call, PLUGIN_SECRET, "user-42")
    assert signature_ok(m, "user-42", None, default.stdout.strip())


# --- deprecated: the interim v2 and v1, keyed by the API key ---------------------------------

DEPRECATED = [(snippets.INTERIM_EXAMPLES, "v2="), (snippets.V1_EXAMPLES, "")]


def check_deprecated(label, order_id, signature, prefix):
    m = merchant()
    assert signature.startswith(prefix) and ("." not in signature), signature
    assert signature_ok(m, label, order_id or None, signature), (label, order_id, signature)
    assert not signature_ok(m, label + "x", order_id or None, signature)
    assert not signature_ok(merchant(api_key="sk_other"), label, order_id or None, signature)


@pytest.mark.parametrize("examples,prefix", DEPRECATED, ids=["interim", "v1"])
def test_python_deprecated_examples_still_match(examples, prefix):
    sign = python_sign(examples)
    for label, order_id in CASES:
        check_deprecated(label, order_id, sign(API_KEY, label, order_id), prefix)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@pytest.mark.parametrize("examples,prefix", DEPRECATED, ids=["interim", "v1"])
def test_node_deprecated_examples_still_match(tmp_path, examples, prefix):
    call = "\nconsole.log(sign(process.argv[2], process.argv[3], process.argv[4]));\n"
    for label, order_id in CASES:
        done = run([NODE], source(examples, "node"), ".js", tmp_path, call, API_KEY, label, order_id)
        check_deprecated(label, order_id, done.stdout.strip(), prefix)


@pytest.mark.skipif(PHP is None, reason="php is not installed")
@pytest.mark.parametrize("examples,prefix", DEPRECATED, ids=["interim", "v1"])
def test_php_deprecated_examples_still_match(tmp_path, examples, prefix):
    call = "\necho sign($argv[1], $argv[2], $argv[3]);\n"
    for label, order_id in CASES:
        done = run([PHP], source(examples, "php"), ".php", tmp_path, call, API_KEY, label, order_id)
        check_deprecated(label, order_id, done.stdout.strip(), prefix)


def test_deprecated_forms_end_with_their_period(app):
    sign = python_sign(snippets.V1_EXAMPLES)
    m = merchant()
    with app.app_context():
        app.config["PLUGIN_SIGNATURE_V1_UNTIL"] = "2000-01-01"
        assert not signature_ok(m, "user-42", None, sign(API_KEY, "user-42", ""))
        assert not signature_ok(m, "user-42", None, python_sign(snippets.INTERIM_EXAMPLES)(API_KEY, "user-42", ""))
        expires = int(time.time()) + 600
        assert signature_ok(m, "user-42", None, python_sign(snippets.V2_EXAMPLES)(PLUGIN_SECRET, "user-42", "",
                                                                                   expires))


# --- plugin sessions: each example against the app over real HTTP ----------------------------

@pytest.fixture
def shop(app, conn):
    m = factories.merchant(name="Shop")
    factories.merchant_payment_system(m, factories.payment_system("bkash", "BDT"))
    return m


def found(app, token, merchant, label, order_id, amount=None):
    with app.app_context():
        session = plugin_sessions.find(token)
    assert token.startswith("pst_")
    assert session.merchant_id == merchant.id and session.label == label
    assert session.order_id == (order_id or None)
    assert (session.amount is None) if amount is None else (Decimal(session.amount) == Decimal(amount))
    assert session.currency == (None if amount is None else "BDT")
    return session


SESSION_CASES = [("user-42", "order-7", None), ("Пётр|42", None, None), ("اردو", "زمرہ 1", "500.00")]


def test_python_session_example_creates_a_session(app, shop, backoffice_url, monkeypatch):  # noqa: F811
    monkeypatch.setenv("no_proxy", "*")
    namespace = {}
    exec(compile(source(snippets.SESSION_EXAMPLES, "python"), "example.py", "exec"), namespace)  # noqa: S102
    create_session = namespace["create_session"]
    for label, order_id, amount in SESSION_CASES:
        token = create_session(backoffice_url + "/", shop.api_key, label, order_id,
                               amount, "BDT" if amount else None)
        found(app, token, shop, label, order_id, amount)
    with pytest.raises(urllib.error.HTTPError) as refused:
        create_session(backoffice_url, "sk_wrong", "user-42")
    assert refused.value.code == 401


# Each external session example called with (base URL, API key, label, order id, amount),
# empty strings for the ones left out; a refusal makes the program fail and name the 401.
SESSION_CALLS = {
    "node": ("\nconst [base, key, label, orderId, amount] = process.argv.slice(2);\n"
             "createSession(base, key, label, orderId || null, amount || null, amount ? \"BDT\" : null)\n"
             "  .then((token) => console.log(token), (error) => { console.error(error.message); process.exit(3); });\n"),
    "php": ("\n$orderId = $argv[4] === \"\" ? null : $argv[4];\n"
            "$amount = $argv[5] === \"\" ? null : $argv[5];\n"
            "echo create_session($argv[1], $argv[2], $argv[3], $orderId, $amount, $amount === null ? null : \"BDT\");\n"),
}


@pytest.mark.parametrize("language", sorted(RUNTIMES))
def test_external_session_example_creates_a_session(app, shop, backoffice_url, tmp_path, language):  # noqa: F811
    interpreter, suffix = RUNTIMES[language]
    if interpreter is None:
        pytest.skip(f"{language} is not installed")
    text, call = source(snippets.SESSION_EXAMPLES, language), SESSION_CALLS[language]
    for n, (label, order_id, amount) in enumerate(SESSION_CASES):
        base = backoffice_url + ("/" if n % 2 else "")  # with and without the trailing slash
        done = run([interpreter], text, suffix, tmp_path, call, base, shop.api_key, label, order_id or "",
                   amount or "")
        found(app, done.stdout.strip(), shop, label, order_id, amount)
    refused = run([interpreter], text, suffix, tmp_path, call, backoffice_url, "sk_wrong", "user-42", "", "",
                  check=False)
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout


# --- the page's order and the snippet ---------------------------------------------------------

def test_the_page_shows_sessions_first_then_v2_then_the_deprecated_forms():
    codes = [code for code, _t, _x in snippets.EXAMPLES]
    assert codes == ["python-session", "php-session", "node-session", "python", "php", "node",
                     "python-interim", "php-interim", "node-interim", "python-v1", "php-v1", "node-v1"]
    assert all("/api/v1/plugin/sessions" in text and "Bearer" in text for _c, _t, text in snippets.SESSION_EXAMPLES)
    for _c, _t, text in snippets.V2_EXAMPLES:  # keyed by the plugin secret, never the API key
        assert ("plugin_secret" in text or "pluginSecret" in text) and "api_key" not in text and "apiKey" not in text
    # No third-party library: urllib, a PHP stream context, Node's global fetch.
    python, php, node = (text for _c, _t, text in snippets.SESSION_EXAMPLES)
    assert "urllib.request" in python and "requests" not in python
    assert "stream_context_create" in php and "curl" not in php
    assert "fetch(" in node and "require(" not in node


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(text):
    parser = _Tags()
    parser.feed(text)
    return parser.tags


def test_snippet_names_the_loader_merchant_and_container():
    m = merchant(public_key="pk_abc")
    text = snippets.snippet(m, "https://pay.example/", label='x" onload="alert(1)')
    (div, div_attrs), (script, attrs) = tags(text)
    assert div == "div" and script == "script" and "async" in attrs
    assert attrs["src"] == "https://pay.example/plugin/v1/loader.js"
    assert attrs["data-merchant"] == "pk_abc" and attrs["data-label"] == 'x" onload="alert(1)'
    assert attrs["data-container"] == div_attrs["id"]
    assert "onload" not in attrs and "data-signature" not in attrs and "data-session" not in attrs
    m.require_signed_labels = True
    assert 'data-signature="SIGNATURE"' in snippets.snippet(m, "https://pay.example")


def test_a_session_snippet_has_no_label_order_or_signature():
    m = merchant(public_key="pk_abc", require_signed_labels=True)
    text = snippets.snippet(m, "https://pay.example", session='pst_x"><script>', lang="ur",
                            signature="v2=1.ab")
    (_div, _d), (_script, attrs) = tags(text)
    assert attrs["data-session"] == 'pst_x"><script>' and attrs["data-lang"] == "ur"
    assert attrs["data-merchant"] == "pk_abc" and attrs["data-container"] == snippets.CONTAINER_ID
    assert not {"data-label", "data-order-id", "data-signature"} & set(attrs)
    assert "<script>" not in text.split("data-session", 1)[1].split("\n", 1)[0]


def test_every_parameter_of_the_spec_is_described():
    names = {name for name, _required, _text in snippets.PARAMETERS}
    assert names == {"data-merchant", "data-session", "data-label", "data-order-id", "data-payment-systems",
                     "data-lang", "data-signature", "data-container", "data-success-url", "data-fail-url",
                     "data-pending-url"}
    required = {name: value for name, value, _t in snippets.PARAMETERS if value}
    assert required == {"data-merchant": True, "data-label": snippets.UNLESS_SESSION}
    texts = {name: str(text) for name, _r, text in snippets.PARAMETERS}
    assert "en, ru, bn, hi or ur" in texts["data-lang"] and "default plugin language" in texts["data-lang"]
    assert "plugin secret" in texts["data-signature"] and "expiry" in texts["data-signature"]
    assert "/api/v1/plugin/sessions" in texts["data-session"]
    assert label_signature(PLUGIN_SECRET, "a", None, 2000000000) == label_signature(PLUGIN_SECRET, "a", "",
                                                                                    2000000000)
