"""The demo receiver (issue 22): a place where the demo merchants' postbacks visibly
arrive, for someone trying the back office with ``make run``.

* ``POST /demo/receiver/<merchant id>`` takes a postback as a merchant's server would
  (no session, no CSRF token: the worker's dispatcher posts there), checks its
  Standard Webhooks signature against the merchant's endpoint secrets, keeps the last
  :data:`KEEP` in the instance folder (``demo-receiver.jsonl``) and answers 200;
* Settings → Demo receiver lists what arrived, newest first (operators: every
  merchant's; a merchant owner: its own; whoever may open Postbacks may open it).

Only ``backoffice run`` in development mode (``BACKOFFICE_ENV=development``, what
``make run`` sets) registers it (:func:`init_app`); the app factory never does, so no
production process has these URLs. The demo points its merchants' endpoints here
(``backoffice.demo.receiver_url``); the worker needs ``ALLOW_PRIVATE_POSTBACKS`` to
reach a loopback address (``make run`` sets that too).
"""
import datetime
import fcntl
import hmac
import json
import os
import threading

from flask import Blueprint, current_app, jsonify, request
from flask_admin import expose
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import roles
from ..extensions import csrf
from ..models import Merchant, WebhookEndpoint, utcnow
from ..services import postbacks
from ..services.webhooks import signing_secrets
from . import SETTINGS  # the menu's Settings category
from .base import SecureBaseView, current_role, is_operator

STORE_NAME = "demo-receiver.jsonl"
KEEP = 100  # the postbacks the page lists (the file holds at most twice as many)
MAX_BODY = 64 * 1024  # what is kept of a body
PATH = "/demo/receiver/<int:merchant_id>"

_lock = threading.Lock()

receiver_bp = Blueprint("demo_receiver_in", __name__)


def store_path(app=None):
    return os.path.join((app or current_app).instance_path, STORE_NAME)


def _locked(fh):
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # web processes share the file


def record(path, entry, keep=KEEP):
    """Append one received postback; the file is cut back to the last ``keep`` once
    it holds twice as many."""
    line = json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n"
    with _lock, open(path, "a+", encoding="utf-8") as fh:
        _locked(fh)
        fh.write(line)
        fh.flush()
        fh.seek(0)
        lines = fh.readlines()
        if len(lines) > 2 * keep:
            fh.seek(0)
            fh.truncate()
            fh.writelines(lines[-keep:])


def received(path, merchant_id=None, limit=KEEP):
    """The last postbacks received (of one merchant when given), newest first."""
    if not os.path.exists(path):
        return []
    with _lock, open(path, encoding="utf-8") as fh:
        _locked(fh)
        lines = fh.readlines()
    entries = []
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if merchant_id is None or entry.get("merchant_id") == merchant_id:
            entries.append(entry)
            if len(entries) >= limit:
                break
    return entries


def signature_state(merchant_id, headers, body):
    """``valid`` (one of the signatures is the merchant's endpoint's), ``invalid``, or
    ``unsigned`` (no Standard Webhooks headers)."""
    event_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    given = (headers.get("webhook-signature") or "").split()
    if not (event_id and timestamp and given):
        return "unsigned"
    now = utcnow()
    for endpoint in WebhookEndpoint.select().where(WebhookEndpoint.merchant == merchant_id):
        for secret in signing_secrets(endpoint, now):
            try:
                expected = postbacks.sign(secret, event_id, timestamp, body)
            except (ValueError, TypeError):
                continue
            if any(hmac.compare_digest(expected, signature) for signature in given):
                return "valid"
    return "invalid"


@receiver_bp.route(PATH, methods=["POST"])
def receive(merchant_id):
    body = request.get_data(cache=False)
    text = body[:MAX_BODY].decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    payload = payload if isinstance(payload, dict) else {}
    record(store_path(), {
        "received_at": utcnow().isoformat(timespec="seconds"),
        "merchant_id": merchant_id,
        "event_id": request.headers.get("webhook-id", ""),
        "event_type": payload.get("type") or "",
        "signature": signature_state(merchant_id, request.headers, body),
        "size": len(body),
        "body": text,
    })
    return jsonify(received=True)


SIGNATURE_LABELS = {
    "valid": _l("valid signature"),
    "invalid": _l("wrong signature"),
    "unsigned": _l("not signed"),
}


class DemoReceiverView(SecureBaseView):
    """Settings → Demo receiver: the postbacks the demo receiver took, newest first."""

    def may(self, permission):
        # The page shows postbacks: whoever may open Postbacks (operators, owners).
        return roles.allowed("postbacks", "view", current_role())

    @expose("/")
    def index(self):
        merchant_id = None if is_operator() else current_user.merchant_id
        entries = received(store_path(), merchant_id)
        names = {m.id: m.name for m in Merchant.select(Merchant.id, Merchant.name)}
        for entry in entries:
            entry["when"] = datetime.datetime.fromisoformat(entry["received_at"])
            entry["merchant"] = names.get(entry.get("merchant_id"), entry.get("merchant_id"))
            entry["signature_label"] = SIGNATURE_LABELS.get(entry.get("signature"), entry.get("signature"))
            try:
                entry["pretty"] = json.dumps(json.loads(entry["body"]), indent=2, ensure_ascii=False, sort_keys=True)
            except ValueError:
                entry["pretty"] = entry["body"]
        return self.render("admin/demo_receiver.html", entries=entries, keep=KEEP,
                           address=request.host_url.rstrip("/") + PATH.replace("<int:merchant_id>", "<id>"))


def init_app(app):
    """Register the receiver and its page (``backoffice run`` in development only)."""
    app.register_blueprint(receiver_bp)
    csrf.exempt(receiver_bp)
    admin = app.extensions["admin"][0]
    admin.add_view(DemoReceiverView(name=_l("Demo receiver"), category=SETTINGS, endpoint="demo_receiver",
                                    url="/admin/demo-receiver"))
