"""Postback delivery errors in words (issue 22, point 4): what the HTTP client stores for
each real failure is a stable code and the error's own text (never an exception's class
name), and each code reads as its sentence; rows stored before codes read the same."""
import errno
import http.client
import re
import ssl

import pytest

from failing_servers import GUARD_URLS, failure_urls
from backoffice import delivery_errors
from backoffice.services import postback_delivery as delivery

SENTENCES = {
    "connection_refused": "The server refused the connection.",
    "timeout": "The server did not answer in time (1 s).",
    "certificate": "The server's certificate is not valid.",
    "tls": "The secure connection (TLS) to the server could not be set up.",
    "closed": "The server closed the connection without answering.",
    "bad_answer": "The server's answer is not valid HTTP.",
    "redirect": "The server answered with a redirect (HTTP 302); redirects are not followed.",
    "http": "The server answered HTTP 500.",
    "private": "The address is private or local and is not allowed.",
    "port": "This port is not allowed for postbacks (use 80, 443, 8080 or 8443).",
    "dns": "The address could not be found (DNS).",
    "url": "The endpoint's URL is not valid for postbacks.",
}
# What an exception's class name looks like in text ("ConnectionRefusedError", "SSLError", …).
CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Disconnected|Timeout|StatusLine)\b|\bgaierror\b")


@pytest.fixture
def urls(tmp_path):
    with failure_urls(tmp_path, slow_seconds=3) as found:
        yield found


def test_each_real_failure_is_stored_as_a_code_and_reads_as_its_sentence(app, urls):
    results = {}
    with app.test_request_context():
        for kind, url in urls.items():
            results[kind] = delivery.post(url, b"{}", {}, timeout=1.0, allow_private=True)
        for kind, url in GUARD_URLS.items():
            results[kind] = delivery.post(url, b"{}", {}, timeout=1.0, allow_private=False)
        for kind, result in results.items():
            described = delivery_errors.describe(result.error, result.status)
            assert described is not None, kind
            assert described.sentence == SENTENCES[kind], (kind, result.error)
            stored = result.error or ""
            assert not CLASS_NAME.search(stored), (kind, stored)
            if kind not in ("http",):
                assert re.match(r"^[a-z_]+(\.[a-z0-9_]+)?(: |$)", stored), (kind, stored)
        assert results["private"].error.startswith("refused.loopback: ")
        assert "127.0.0.1" in delivery_errors.describe(results["private"].error).detail
        assert results["http"].error is None and results["http"].status == 500
        assert results["connection_refused"].error.startswith("connection_refused: ")


@pytest.mark.parametrize("exc, kind", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection_refused"),
    (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "certificate"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls"),
    (http.client.RemoteDisconnected("Remote end closed connection without response"), "closed"),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "closed"),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), "closed"),
    (http.client.BadStatusLine("garbage"), "bad_answer"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
    (OSError(errno.EIO, "Input/output error"), "network"),
    (ValueError("something odd"), "failed"),
])
def test_every_exception_the_client_catches_has_its_code(app, exc, kind):
    stored = delivery_errors.for_exception(exc)
    assert not CLASS_NAME.search(stored), stored
    with app.test_request_context():
        described = delivery_errors.describe(stored)
        assert described.kind == kind
        assert described.sentence == str(delivery_errors.SENTENCES[kind])
        assert described.detail == str(exc)


@pytest.mark.parametrize("legacy, sentence", [
    ("ConnectionRefusedError: [Errno 111] Connection refused", "The server refused the connection."),
    ("timeout after 10 s", "The server did not answer in time (10 s)."),
    ("SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
     "The server's certificate is not valid."),
    ("SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number",
     "The secure connection (TLS) to the server could not be set up."),
    ("ssl.SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", "The server's certificate is not valid."),
    ("RemoteDisconnected: Remote end closed connection without response",
     "The server closed the connection without answering."),
    ("ReadTimeout: HTTPConnectionPool(host='x', port=80): Read timed out.", "The server did not answer in time."),
    ("refused: a loopback address: 127.0.0.1", "The address is private or local and is not allowed."),
    ("refused: the host name does not resolve ([Errno -2] Name or service not known)",
     "The address could not be found (DNS)."),
    ("redirect (301) not followed", "The server answered with a redirect (HTTP 301); redirects are not followed."),
    ("no webhook endpoint", "The delivery has no webhook endpoint."),
    ("endpoint disabled", "The endpoint was disabled before the delivery was made."),
    ("no postback URL is set", "No postback URL was set."),
    ("WeirdThing: whatever", "The delivery failed."),
    ("something nobody wrote", "The delivery failed."),
])
def test_errors_stored_before_codes_read_as_sentences_without_class_names(app, legacy, sentence):
    with app.test_request_context():
        described = delivery_errors.describe(legacy)
        assert described.sentence == sentence
        html = str(described.__html__()) + str(described.compact_html())
        assert not CLASS_NAME.search(html.replace("WeirdThing", "")), html
        assert "WeirdThing" not in html


def test_a_non_2xx_answer_without_error_reads_as_its_status_and_success_reads_as_nothing(app):
    with app.test_request_context():
        assert delivery_errors.sentence(None, 503) == "The server answered HTTP 503."
        assert delivery_errors.describe(None, 200) is None
        assert delivery_errors.describe(None, None) is None
        assert delivery_errors.describe("", 204) is None


def test_the_technical_text_stays_in_a_collapsed_details_and_is_escaped(app):
    with app.test_request_context():
        described = delivery_errors.describe("closed: <script>alert(1)</script>")
        html = str(described.__html__())
        assert html.startswith('<span class="bo-delivery-error" data-error-kind="closed">'
                               "The server closed the connection without answering.</span>")
        assert "<details" in html and "&lt;script&gt;" in html and "<script>" not in html
        compact = str(described.compact_html())
        assert 'title="&lt;script&gt;alert(1)&lt;/script&gt;"' in compact and "<details" not in compact

