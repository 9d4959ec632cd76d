"""Postback delivery errors in words (issue 22, point 4): the one place that knows
what a failed delivery attempt stores and what people read about it.

**What is stored** (``PostbackAttempt.error``, ``Postback.last_error``): a stable code,
then the technical detail, ``<code>: <detail>``, written where the failure happens
(the delivery dispatcher, ``services.postback_delivery``, through :func:`stored` and
:func:`for_exception`). The detail is the error's own text, never an exception's class
name: ``connection_refused: [Errno 111] Connection refused``, ``timeout: 10 s``,
``certificate: [SSL: CERTIFICATE_VERIFY_FAILED] …``, ``refused.loopback: a loopback
address: 127.0.0.1`` (the SSRF guard's refusal, with its reason code),
``redirect: 302``. A few fixed texts are codes too (:data:`FIXED_TEXTS`: "no webhook
endpoint", "endpoint disabled", "no postback URL is set").

**What people read**: :func:`describe` turns a stored error (and the attempt's HTTP
status: a non-2xx answer without an error is "The server answered HTTP 500.") into a
:class:`DeliveryError`, whose ``sentence`` is translated for the viewer and whose HTML
(``{{ error }}`` in a template) keeps the technical detail in a collapsed
``<details>`` (:meth:`DeliveryError.compact_html`: in a ``title``, for list cells).
Every screen that shows a delivery error goes through it: the Postbacks list and
details, the endpoint's delivery log (Settings → Webhooks), the transaction timeline.

Rows written before codes existed (``ConnectionRefusedError: [Errno 111] …``,
``refused: a loopback address: 127.0.0.1``, ``timeout after 10 s``, ``redirect (302)
not followed``) are read by :func:`parse` too; their class name is never shown.
"""
import errno
import http.client
import re
import ssl
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

# --- the codes ------------------------------------------------------------------------------

CONNECTION_REFUSED = "connection_refused"
TIMEOUT = "timeout"
CERTIFICATE = "certificate"
TLS = "tls"
CLOSED = "closed"
UNREACHABLE = "unreachable"
NETWORK = "network"
BAD_ANSWER = "bad_answer"
REDIRECT = "redirect"
REFUSED = "refused"  # the SSRF guard refused the address: "refused.<netguard reason>"
NO_ENDPOINT = "no_endpoint"
ENDPOINT_DISABLED = "endpoint_disabled"
NO_URL = "no_url"
FAILED = "failed"  # anything else
HTTP = "http"  # no error stored: the server answered a status that is not 2xx

# The SSRF guard's reason codes (services.netguard), by what people are told.
GUARD_DNS = {"unresolvable"}
GUARD_PORT = {"port"}
GUARD_URL = {"scheme", "credentials", "host", "bad_url"}
# Every other reason (private, loopback, link_local, cgnat, reserved, …) is "private or local".

SENTENCES = {
    CONNECTION_REFUSED: _l("The server refused the connection."),
    TIMEOUT: _l("The server did not answer in time."),
    CERTIFICATE: _l("The server's certificate is not valid."),
    TLS: _l("The secure connection (TLS) to the server could not be set up."),
    CLOSED: _l("The server closed the connection without answering."),
    UNREACHABLE: _l("The server cannot be reached (no route to it)."),
    NETWORK: _l("A network error interrupted the delivery."),
    BAD_ANSWER: _l("The server's answer is not valid HTTP."),
    REDIRECT: _l("The server answered with a redirect; redirects are not followed."),
    "dns": _l("The address could not be found (DNS)."),
    "private": _l("The address is private or local and is not allowed."),
    "port": _l("This port is not allowed for postbacks (use 80, 443, 8080 or 8443)."),
    "url": _l("The endpoint's URL is not valid for postbacks."),
    NO_ENDPOINT: _l("The delivery has no webhook endpoint."),
    ENDPOINT_DISABLED: _l("The endpoint was disabled before the delivery was made."),
    NO_URL: _l("No postback URL was set."),
    FAILED: _l("The delivery failed."),
}

# Texts written as they are (by the dispatcher, the endpoint's disabling, a migration).
FIXED_TEXTS = {
    "no webhook endpoint": NO_ENDPOINT,
    "endpoint disabled": ENDPOINT_DISABLED,
    "no postback URL is set": NO_URL,
}
NO_ENDPOINT_TEXT = "no webhook endpoint"

_CODE = re.compile(r"^([a-z_]+(?:\.[a-z0-9_]+)?)(?:: (.*))?$", re.S)
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?) s\b")
_STATUS = re.compile(r"^(\d{3})\b")
# Before codes: "timeout after 10 s", "redirect (302) not followed", "Name: text".
_LEGACY_TIMEOUT = re.compile(r"^timeout after (\d+(?:\.\d+)?) s$")
_LEGACY_REDIRECT = re.compile(r"^redirect \((\d{3})\) not followed$")
_LEGACY_CLASS = re.compile(r"^((?:[A-Za-z_]\w*\.)*([A-Z]\w*|gaierror|herror|timeout)): ?(.*)$", re.S)
LEGACY_CLASSES = {
    "ConnectionRefusedError": CONNECTION_REFUSED,
    "SSLCertVerificationError": CERTIFICATE,
    "CertificateError": CERTIFICATE,
    "TimeoutError": TIMEOUT, "timeout": TIMEOUT, "ReadTimeout": TIMEOUT, "ConnectTimeout": TIMEOUT,
    "ConnectionResetError": CLOSED, "RemoteDisconnected": CLOSED, "BrokenPipeError": CLOSED,
    "ConnectionAbortedError": CLOSED,
    "BadStatusLine": BAD_ANSWER, "LineTooLong": BAD_ANSWER, "IncompleteRead": BAD_ANSWER,
    "HTTPException": BAD_ANSWER, "UnknownProtocol": BAD_ANSWER,
    "gaierror": "dns", "herror": "dns",
    "OSError": NETWORK, "ConnectionError": NETWORK,
}
_LEGACY_GUARD_WORDS = (("does not resolve", "dns"), ("port is not allowed", "port"),
                       ("http and https", "url"), ("user name or password", "url"), ("has no host", "url"),
                       ("not a valid URL", "url"))


# --- writing --------------------------------------------------------------------------------

def stored(code, detail=None):
    """The text to store for a failure: ``code``, or ``code: detail``."""
    detail = "" if detail is None else str(detail).replace("\x00", "").strip()
    return f"{code}: {detail}" if detail else code


def refused(reason, message):
    """The SSRF guard refused the URL: its reason code and its message (which names the
    culprit address)."""
    return stored(f"{REFUSED}.{reason}", message)


def timed_out(seconds):
    return stored(TIMEOUT, f"{seconds:g} s")


def redirect(status):
    return stored(REDIRECT, str(status))


def code_of_exception(exc):
    """The code of a failure the HTTP client raised (anything but a timeout, which the
    caller knows from its watchdog)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CERTIFICATE
    if isinstance(exc, ssl.SSLError):
        return TLS
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return CLOSED  # http.client.RemoteDisconnected too
    if isinstance(exc, http.client.HTTPException):
        return BAD_ANSWER
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, OSError):
        unreachable = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN)
        return UNREACHABLE if exc.errno in unreachable else NETWORK
    return FAILED


def for_exception(exc):
    """What to store for a failure the HTTP client raised: its code and its own text
    (``str(exc)``, never its class name)."""
    return stored(code_of_exception(exc), str(exc))


# --- reading --------------------------------------------------------------------------------

def _guard_family(reason):
    if reason in GUARD_DNS:
        return "dns"
    if reason in GUARD_PORT:
        return "port"
    if reason in GUARD_URL:
        return "url"
    return "private"


def parse(error):
    """``(kind, detail, number)`` of a stored error: ``kind`` a key of
    :data:`SENTENCES`, ``detail`` the technical text (no class name), ``number`` the
    seconds of a timeout or the status of a redirect (or None)."""
    text = str(error).strip()
    if text in FIXED_TEXTS:
        return FIXED_TEXTS[text], "", None
    legacy = _LEGACY_TIMEOUT.match(text)
    if legacy:
        return TIMEOUT, text, legacy.group(1)
    legacy = _LEGACY_REDIRECT.match(text)
    if legacy:
        return REDIRECT, text, legacy.group(1)
    match = _CODE.match(text)
    if match:
        code, detail = match.group(1), (match.group(2) or "").strip()
        if code.startswith(REFUSED + "."):
            return _guard_family(code.split(".", 1)[1]), detail, None
        if code == REFUSED:  # before codes: the guard's message only
            family = next((kind for words, kind in _LEGACY_GUARD_WORDS if words in detail), "private")
            return family, detail, None
        if code == TIMEOUT:
            seconds = _SECONDS.match(detail)
            return TIMEOUT, detail, seconds.group(1) if seconds else None
        if code == REDIRECT:
            status = _STATUS.match(detail)
            return REDIRECT, detail, status.group(1) if status else None
        if code in SENTENCES:
            return code, detail, None
    legacy = _LEGACY_CLASS.match(text)
    if legacy:
        kind = LEGACY_CLASSES.get(legacy.group(2))
        if kind is None:
            kind = CERTIFICATE if "CERTIFICATE_VERIFY_FAILED" in text else (TLS if "SSL" in legacy.group(2) else FAILED)
        return kind, legacy.group(3).strip(), None
    return FAILED, text, None


@dataclass(frozen=True)
class DeliveryError:
    """A delivery error as people read it: ``sentence`` (translated when read), the
    technical ``detail`` for whoever needs it. In a template ``{{ error }}`` shows the
    sentence with the detail in a collapsed ``<details>``."""

    kind: str
    detail: str = ""
    number: str = None

    @property
    def sentence(self):
        if self.kind == HTTP:
            return _("The server answered HTTP %(status)s.", status=self.number)
        if self.kind == TIMEOUT and self.number:
            return _("The server did not answer in time (%(seconds)s s).", seconds=self.number)
        if self.kind == REDIRECT and self.number:
            return _("The server answered with a redirect (HTTP %(status)s); redirects are not followed.",
                     status=self.number)
        return str(SENTENCES.get(self.kind, SENTENCES[FAILED]))

    def __str__(self):
        return self.sentence

    def __html__(self):
        sentence = Markup('<span class="bo-delivery-error" data-error-kind="%s">%s</span>') % (
            self.kind, self.sentence)
        if not self.detail:
            return sentence
        return sentence + Markup(
            ' <details class="bo-error-detail small"><summary>%s</summary><code class="text-break">%s</code>'
            '</details>') % (_("Technical detail"), self.detail)

    def compact_html(self):
        """The sentence, the detail in its ``title`` (a list's cell stays one line)."""
        if not self.detail:
            return Markup('<span class="bo-delivery-error" data-error-kind="%s">%s</span>') % (
                self.kind, self.sentence)
        return Markup('<span class="bo-delivery-error" data-error-kind="%s" title="%s">%s</span>') % (
            self.kind, self.detail, self.sentence)


def describe(error, http_status=None):
    """The :class:`DeliveryError` of an attempt or a delivery (its stored ``error`` and
    HTTP status), or None when nothing went wrong (or nothing happened yet)."""
    if error:
        kind, detail, number = parse(error)
        return DeliveryError(kind, detail, number)
    if http_status is not None and not 200 <= http_status < 300:
        return DeliveryError(HTTP, "", str(http_status))
    return None


def sentence(error, http_status=None):
    """Just the sentence ("" when nothing went wrong): for text outputs."""
    described = describe(error, http_status)
    return described.sentence if described is not None else ""


__all__ = ["DeliveryError", "describe", "for_exception", "parse", "refused", "redirect", "sentence", "stored",
           "timed_out"]
