"""What a site visitor's browser loads: the loader script, the plugin page, the GIF
prompts and a merchant's own theme (SPEC §5).

* ``GET /plugin/v1/loader.js`` — the loader (``static/plugin/loader.js``);
* ``GET /plugin/v1/page?merchant=PK&session=TOKEN`` (or ``&label=…&order_id=…&signature=…``)
  — the plugin page, framed only by the merchant's allowed origins
  (``Content-Security-Policy: frame-ancestors``), in the visitor's language
  (``data-lang``, else the browser's languages, else the merchant's default), right to
  left for Urdu; an expired or unknown session gets the page with its message (403); a
  ``parent`` that is not an allowed origin is recorded as refused (``origin_api``);
* ``GET /plugin/v1/prompts/<name>.gif`` — a GIF prompt: ``image/gif``, ``nosniff``,
  ``sandbox`` CSP; ``…/<name>.png`` — its first frame, for ``prefers-reduced-motion``;
* ``GET /plugin/v1/themes/<public_key>/<digest>.css`` — a merchant's validated sheet.
"""
import hashlib
import hmac
import json
import os

from flask import abort, current_app, make_response, render_template, request, send_from_directory, url_for

from ..models import utcnow
from ..security import UPLOAD_HEADERS
from ..services import plugin_sessions
from ..services.activation import BINDING
from .blueprint import bp
from .config import (
    after_payment,
    frame_ancestors,
    merchant_by_public_key,
    origin_allowed,
    parse_codes,
    plugin_options,
    requires,
    prompt_url,
    theme_url,
    url_on_allowed_origin,
)
from .gif import NAME_RE, STILL_RE, prompts_folder, still_frame
from .messages import Words, pick_language
from .origin_api import record_refusal
from .signing import signature_ok
from . import upi

PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}")


def _static_plugin_file(name):
    return os.path.join(current_app.static_folder, "plugin", name)


@bp.route("/v1/loader.js")
def loader():
    with open(_static_plugin_file("loader.js"), "rb") as fh:
        body = fh.read()
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _page(template_args, status=200, ancestors="'none'"):
    response = make_response(render_template("plugin/page.html", **template_args), status)
    response.headers["Content-Security-Policy"] = PAGE_CSP.format(ancestors=ancestors)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _label_key(merchant, label):
    key = current_app.secret_key.encode() if isinstance(current_app.secret_key, str) else current_app.secret_key
    return hmac.new(key, f"{merchant.id}:{label}".encode(), hashlib.sha256).hexdigest()[:24]


def _iso(moment):
    return moment.isoformat(timespec="seconds") + "Z"


@bp.route("/v1/page")
def page():
    args = request.args
    merchant = merchant_by_public_key(args.get("merchant"))
    words = Words(pick_language(args.get("lang"), request.accept_languages,
                                default=merchant.plugin_language if merchant is not None else None))
    base = dict(t=words, lang=words.language, dir=words.direction, merchant=None, options=[], problem=None,
                theme_url=None, session_amount=None, session_currency=None)
    if merchant is None:
        return _page(dict(base, problem=words("unknown_merchant")), 404)
    ancestors = frame_ancestors(merchant)
    parent = args.get("parent") or ""
    if parent and not origin_allowed(merchant, parent):
        # The browser will not show the page there (frame-ancestors): tell the merchant.
        record_refusal(merchant, parent)
    base.update(merchant=merchant, theme_url=theme_url(merchant, external=False))
    if not merchant.active:
        return _page(dict(base, problem=words("unavailable")), 403, ancestors)
    now = utcnow()
    session = None
    token = (args.get("session") or "").strip()[:plugin_sessions.MAX_TOKEN_LENGTH]
    if token:
        try:
            session = plugin_sessions.find(token, merchant, now=now)
        except plugin_sessions.SessionError as exc:
            return _page(dict(base, problem=words(exc.code)), 403, ancestors)
        label, order_id, signature = session.label, session.order_id or "", ""
    else:
        label = (args.get("label") or "").strip()[:255]
        order_id = (args.get("order_id") or "").strip()[:255]
        signature = (args.get("signature") or "").strip()[:128]
        if not label:
            return _page(dict(base, problem=words("misconfigured")), 400, ancestors)
        if (merchant.require_signed_labels or signature) and not signature_ok(merchant, label, order_id or None,
                                                                             signature):
            return _page(dict(base, problem=words("bad_signature")), 403, ancestors)
    only = parse_codes(args.get("payment_systems"))
    if session is not None and session.payment_systems:
        only = [code for code in session.payment_systems if not only or code in only]
    amount = session.amount if session is not None else None
    options = plugin_options(merchant, label=label, only=only, amount=amount)
    currency = session.currency if session is not None else None
    amount_text = plugin_sessions.amount_text(session) if session is not None else None
    for option in options:
        option.upi = upi.for_option(option, merchant, amount_text, currency, note=order_id or None)
    wanted = requires(merchant)
    behaviour = after_payment(merchant)
    redirects = {
        "success": url_on_allowed_origin(merchant, args.get("success_url")) or behaviour["url"],
        "fail": url_on_allowed_origin(merchant, args.get("fail_url")),
        "pending": url_on_allowed_origin(merchant, args.get("pending_url")),
    }
    settings = {
        "merchant": merchant.public_key,
        # Under a session the page names the session only: the API reads the rest from it.
        "session": token if session is not None else None,
        "label": None if session is not None else label,
        "order_id": None if session is not None else order_id or None,
        "signature": None if session is not None else signature or None,
        # Where the page remembers the visitor's appeals: the label, not named (a session
        # hides it), as a keyed digest that stays the same from one session to the next.
        "label_key": _label_key(merchant, label) if session is not None else None,
        "expires_at": _iso(session.expires_at) if session is not None else None,
        "now": _iso(now),
        "amount": amount_text,
        "currency": currency,
        "title": words("title"),
        "parent": parent.rstrip("/") if origin_allowed(merchant, parent) else None,
        "after": behaviour["behaviour"],
        "redirects": redirects,
        "binding": list(BINDING),
        "requires": wanted,
        "messages": words.script_messages(),
        # While a delayed activation waits, the page asks /plugin/api/pending this often.
        "poll_ms": int(current_app.config["PLUGIN_PENDING_POLL_SECONDS"] * 1000),
    }
    return _page(dict(base, options=options, problem=None if options else words("no_systems"), requires=wanted,
                      session_amount=amount_text, session_currency=currency,
                      prompt_url=lambda name: prompt_url(name, external=False),
                      prompt_still_url=lambda name: url_for("plugin.prompt_still", name=name[:-4]),
                      settings_json=json.dumps(settings, ensure_ascii=True).replace("<", "\\u003c")),
                 200, ancestors)


@bp.route("/v1/prompts/<name>")
def prompt_file(name):
    if not NAME_RE.match(name):
        abort(404)
    response = send_from_directory(prompts_folder(), name, mimetype="image/gif", max_age=31536000)
    response.headers.update(UPLOAD_HEADERS)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@bp.route("/v1/prompts/<name>.png", endpoint="prompt_still")
def prompt_still(name):
    """The first frame of a GIF prompt (``prefers-reduced-motion``), made from the stored GIF."""
    if not STILL_RE.match(name + ".png"):
        abort(404)
    data = still_frame(name + ".gif")
    if data is None:
        abort(404)
    response = make_response(data)
    response.headers["Content-Type"] = "image/png"
    response.headers.update(UPLOAD_HEADERS)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


@bp.route("/v1/themes/<public_key>/<digest>.css")
def own_theme(public_key, digest):
    merchant = merchant_by_public_key(public_key)
    if merchant is None or not merchant.own_css or not merchant.own_css_hash:
        abort(404)
    if not merchant.own_css_hash.startswith(digest) or len(digest) < 16:
        abort(404)
    response = make_response(merchant.own_css)
    response.headers["Content-Type"] = "text/css; charset=utf-8"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response
