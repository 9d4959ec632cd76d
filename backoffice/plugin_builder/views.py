"""What a site visitor's browser loads: the loader script, the plugin page, the GIF
prompts and a merchant's own theme (SPEC §5).

* ``GET /plugin/v1/loader.js`` — the loader (``static/plugin/loader.js``);
* ``GET /plugin/v1/page?merchant=PK&label=…`` — the plugin page, framed only by the
  merchant's allowed origins (``Content-Security-Policy: frame-ancestors``);
* ``GET /plugin/v1/prompts/<name>.gif`` — a GIF prompt: ``image/gif``, ``nosniff``,
  ``sandbox`` CSP;
* ``GET /plugin/v1/themes/<public_key>/<digest>.css`` — a merchant's validated sheet.
"""
import json
import os

from flask import abort, current_app, make_response, render_template, request, send_from_directory

from ..security import UPLOAD_HEADERS
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
from .gif import NAME_RE, prompts_folder
from .messages import Words, pick_language
from .signing import signature_ok

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


@bp.route("/v1/page")
def page():
    args = request.args
    words = Words(pick_language(args.get("lang"), request.accept_languages))
    base = dict(t=words, lang=words.language, merchant=None, options=[], problem=None, theme_url=None)
    merchant = merchant_by_public_key(args.get("merchant"))
    if merchant is None:
        return _page(dict(base, problem=words("unknown_merchant")), 404)
    ancestors = frame_ancestors(merchant)
    base.update(merchant=merchant, theme_url=theme_url(merchant, external=False))
    if not merchant.active:
        return _page(dict(base, problem=words("unavailable")), 403, ancestors)
    label = (args.get("label") or "").strip()[:255]
    order_id = (args.get("order_id") or "").strip()[:255]
    signature = (args.get("signature") or "").strip()[:128]
    if not label:
        return _page(dict(base, problem=words("misconfigured")), 400, ancestors)
    if (merchant.require_signed_labels or signature) and not signature_ok(merchant.api_key, label, order_id or None,
                                                                         signature):
        return _page(dict(base, problem=words("bad_signature")), 403, ancestors)
    options = plugin_options(merchant, label=label, only=parse_codes(args.get("payment_systems")))
    wanted = requires(merchant)
    parent = args.get("parent") or ""
    behaviour = after_payment(merchant)
    redirects = {
        "success": url_on_allowed_origin(merchant, args.get("success_url")) or behaviour["url"],
        "fail": url_on_allowed_origin(merchant, args.get("fail_url")),
        "pending": url_on_allowed_origin(merchant, args.get("pending_url")),
    }
    settings = {
        "merchant": merchant.public_key,
        "label": label,
        "order_id": order_id or None,
        "signature": signature or None,
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
                      prompt_url=lambda name: prompt_url(name, external=False),
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
