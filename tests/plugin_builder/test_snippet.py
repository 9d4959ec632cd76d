"""The install snippet and the three data-signature examples, checked against the
server's own signature check (``signing.signature_ok``)."""
import html.parser
import shutil
import subprocess

import pytest

from backoffice.models import Merchant
from backoffice.plugin_builder import snippet as snippets
from backoffice.plugin_builder.signing import label_signature, signature_ok

# The installation page's examples: v2 (issue 17), then the deprecated v1 — each must
# produce a signature the server accepts (v1 while its deprecation period lasts).
EXAMPLE_SETS = [(snippets.V2_EXAMPLES, "v2="), (snippets.V1_EXAMPLES, "")]

API_KEY = "sk_" + "5f" * 24
CASES = [("user-42", "order-7"), ("user-42", ""), ("Пётр|42", "заказ 1"), ("a b&c<d>", "x\"y")]


@pytest.mark.parametrize("examples,prefix", EXAMPLE_SETS, ids=["v2", "v1"])
def test_python_example_matches_the_server(tmp_path, examples, prefix):
    namespace = {}
    exec(compile(dict((c, t) for c, _title, t in examples)[examples[0][0]], "example.py", "exec"),  # noqa: S102
         namespace)
    for label, order_id in CASES:
        signature = namespace["sign"](API_KEY, label, order_id)
        assert signature.startswith(prefix)
        assert signature_ok(API_KEY, label, order_id or None, signature)
        assert not signature_ok(API_KEY, label + "x", order_id or None, signature)


def run_example(command, source, suffix, tmp_path, call):
    path = tmp_path / ("example" + suffix)
    path.write_text(source + call, encoding="utf-8")
    results = []
    for label, order_id in CASES:
        done = subprocess.run(command + [str(path), API_KEY, label, order_id], capture_output=True, text=True,
                              timeout=30, check=True)
        results.append((label, order_id, done.stdout.strip()))
    return results


def _source(examples, language):
    return next(text for code, _title, text in examples if code.split("-")[0] == language)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("examples,prefix", EXAMPLE_SETS, ids=["v2", "v1"])
def test_node_example_matches_the_server(tmp_path, examples, prefix):
    call = "\nconsole.log(sign(process.argv[2], process.argv[3], process.argv[4]));\n"
    for label, order_id, signature in run_example(["node"], _source(examples, "node"), ".js", tmp_path, call):
        assert signature.startswith(prefix) and signature_ok(API_KEY, label, order_id or None, signature), \
            (label, order_id, signature)


@pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed on this machine")
@pytest.mark.parametrize("examples,prefix", EXAMPLE_SETS, ids=["v2", "v1"])
def test_php_example_matches_the_server(tmp_path, examples, prefix):
    call = "\necho sign($argv[1], $argv[2], $argv[3]);\n"
    for label, order_id, signature in run_example(["php"], _source(examples, "php"), ".php", tmp_path, call):
        assert signature.startswith(prefix) and signature_ok(API_KEY, label, order_id or None, signature), \
            (label, order_id, signature)


def test_the_page_shows_v2_first():
    assert [code for code, _t, _x in snippets.EXAMPLES][:3] == ["python", "php", "node"]
    assert all("v2=" in text for _c, _t, text in snippets.EXAMPLES[:3])


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_snippet_names_the_loader_merchant_and_container():
    merchant = Merchant(public_key="pk_abc", require_signed_labels=False)
    text = snippets.snippet(merchant, "https://pay.example/", label='x" onload="alert(1)')
    parser = _Tags()
    parser.feed(text)
    (div, div_attrs), (script, attrs) = parser.tags
    assert div == "div" and script == "script" and "async" in attrs
    assert attrs["src"] == "https://pay.example/plugin/v1/loader.js"
    assert attrs["data-merchant"] == "pk_abc" and attrs["data-label"] == 'x" onload="alert(1)'
    assert attrs["data-container"] == div_attrs["id"]
    assert "onload" not in attrs and "data-signature" not in attrs
    merchant.require_signed_labels = True
    assert 'data-signature="SIGNATURE"' in snippets.snippet(merchant, "https://pay.example")


def test_every_parameter_of_the_spec_is_described():
    names = {name for name, _required, _text in snippets.PARAMETERS}
    assert names == {"data-merchant", "data-label", "data-order-id", "data-payment-systems", "data-lang",
                     "data-signature", "data-container", "data-success-url", "data-fail-url", "data-pending-url"}
    assert {name for name, required, _t in snippets.PARAMETERS if required} == {"data-merchant", "data-label"}
    assert label_signature(API_KEY, "a", None) == label_signature(API_KEY, "a", "")
