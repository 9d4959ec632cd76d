"""Postbacks: the outbox and its delivery log (operators: all; merchants: their own).

* list with filters by status, type and date; details with every attempt;
* action **Resend** (operators and merchant owners): a new delivery of the same event;
* who may open the screen and each page: ``backoffice.roles`` (owners and operators;
  merchant staff get 403, SPEC §1);
* ``POST /admin/postbacks/test/``: **Send test postback** (the Settings page links here);
* ``GET /admin/postbacks/docs/``: the merchant documentation (payloads, a receiver).

Scoping is the base class's (``merchant`` FK): a merchant user's list, details and
action row ids only ever reach their own merchant's postbacks.
"""
import json

from flask import abort, flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape

from .. import labels
from ..models import EVENT_TYPES, Merchant, Postback, PostbackAttempt
from ..redirects import safe_next
from ..services import postbacks as service
from .base import ScopedModelView, is_operator
from .timezones import LocalDateTimeBetweenFilter

EVENT_TYPE_LABELS = {
    "deposit.completed": _l("Deposit completed"),
    "deposit.reversed": _l("Deposit reversed"),
    "withdrawal.approved": _l("Withdrawal approved"),
    "withdrawal.rejected": _l("Withdrawal rejected"),
    "withdrawal.cancelled": _l("Withdrawal cancelled"),
    "test": _l("Test"),
}

RECEIVER_EXAMPLE = '''from flask import Flask, request, abort
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

app = Flask(__name__)
hook = Webhook("whsec_...")  # your postback secret (Settings -> System)

@app.post("/postbacks")
def postbacks():
    try:
        event = hook.verify(request.get_data(), dict(request.headers))
    except WebhookVerificationError:
        abort(400)
    # event["id"] is stable across retries: process each id once
    print(event["type"], event["data"])
    return "", 204
'''


def _event_type(view, context, model, name):
    return EVENT_TYPE_LABELS.get(model.event_type, model.event_type)


def _payload(view, context, model, name):
    try:
        pretty = json.dumps(json.loads(model.payload), indent=2, sort_keys=True)
    except ValueError:
        pretty = model.payload
    return Markup("<pre class='mb-0'>%s</pre>") % escape(pretty)


def resend_for_objects(object_type, ids):
    """The Resend postback action of the Transactions and Withdrawals screens: a new
    delivery of the newest postback of each (already scoped) object."""
    resent = [service.resend_event(event, actor=current_user.id, ip=request.remote_addr)
              for event in service.latest_events_for_objects(object_type, ids)]
    flash(_("%(n)d postback(s) will be sent again.", n=len(resent)), "success" if resent else "info")


class PostbackView(ScopedModelView):
    column_default_sort = ("id", True)
    column_list = ("id", "event_id", "merchant", "event_type", "object_type", "object_id", "status", "attempts",
                   "last_http_status", "last_error", "next_attempt_at", "created_at", "sent_at")
    column_details_list = ("id", "event_id", "merchant", "event_type", "object_type", "object_id", "status",
                           "delivery", "attempts", "last_http_status", "last_error", "next_attempt_at",
                           "created_at", "sent_at", "payload")
    column_labels = {
        "id": _l("ID"), "event_id": _l("Event ID"), "merchant": _l("Merchant"), "event_type": _l("Type"),
        "object_type": _l("Object"), "object_id": _l("Object ID"), "status": _l("Status"),
        "attempts": _l("Attempts"), "delivery": _l("Delivery"), "last_http_status": _l("Last HTTP status"),
        "last_error": _l("Last error"), "next_attempt_at": _l("Next attempt"), "created_at": _l("Created"),
        "sent_at": _l("Sent"), "payload": _l("Payload"),
    }
    column_formatters = {
        "status": labels.formatter(labels.POSTBACK_STATUS, "status"),
        "event_type": _event_type,
    }
    column_formatters_detail = {
        "status": labels.formatter(labels.POSTBACK_STATUS, "status"),
        "event_type": _event_type,
        "payload": _payload,
    }
    column_filters = (
        FilterEqual(column=Postback.status, name=_l("Status"), options=labels.choices(labels.POSTBACK_STATUS)),
        FilterEqual(column=Postback.event_type, name=_l("Type"),
                    options=[(t, EVENT_TYPE_LABELS[t]) for t in EVENT_TYPES]),
        LocalDateTimeBetweenFilter(column=Postback.created_at, name=_l("Created")),  # the viewer's zone
        LocalDateTimeBetweenFilter(column=Postback.sent_at, name=_l("Sent")),
        FilterEqual(column=Postback.event_id, name=_l("Event ID")),
        FilterEqual(column=Postback.object_id, name=_l("Object ID")),
        FilterEqual(column=Postback.merchant, name=_l("Merchant ID")),  # scoped like the list
    )
    list_template = "admin/postbacks_list.html"
    details_template = "admin/postbacks_details.html"

    @action("resend", _l("Resend"), _l("Send the selected postbacks again (same event id)?"))
    def action_resend(self, ids):
        # The role table allowed the action (base class); ``ids`` are already narrowed to the user's scope by the base class.
        resent = [service.resend(pk, actor=current_user.id, ip=request.remote_addr) for pk in ids]
        flash(_("%(n)d postback(s) will be sent again.", n=len(resent)), "success")

    @expose("/resend/", methods=("POST",))
    def resend_view(self):
        """The Resend button of the details page (one postback); who: ``roles`` "resend"."""
        postback = self.get_one(request.form.get("id"))  # 404 outside the user's scope
        service.resend(postback, actor=current_user.id, ip=request.remote_addr)
        flash(_("Postback %(id)s will be sent again.", id=postback.event_id), "success")
        return redirect(self.get_url(".details_view", id=postback.id))

    @expose("/test/", methods=("POST",))
    def send_test_view(self):
        """Send test postback: a ``test`` event to the merchant's postback URL (``roles`` "send_test")."""
        if is_operator():
            try:
                merchant_id = int(request.form.get("merchant_id", ""))
            except ValueError:
                flash(_("Choose a merchant."), "error")
                return redirect(self.get_url(".index_view"))
            merchant = Merchant.get_or_none(Merchant.id == merchant_id)
            if merchant is None:
                abort(404)
        else:
            merchant = Merchant.get_by_id(current_user.merchant_id)
        event = service.send_test(merchant)
        if not event.deliveries_created:
            flash(_("Add a webhook endpoint first (Settings, Webhooks)."), "error")
            return redirect(safe_next(request.form.get("next")) or self.get_url(".index_view"))
        flash(_("A test postback (%(id)s) is on its way to %(n)d endpoint(s).", id=event.event_id,
                n=event.deliveries_created), "success")
        return redirect(self.get_url(".index_view"))

    @expose("/docs/")
    def docs_view(self):
        examples = {kind: json.dumps(body, indent=2) for kind, body in service.example_payloads().items()}
        return self.render("admin/postbacks_docs.html", examples=examples, receiver=RECEIVER_EXAMPLE,
                           event_labels=EVENT_TYPE_LABELS)

    def attempts_of(self, postback):
        return list(PostbackAttempt.select().where(PostbackAttempt.postback == postback.id)
                    .order_by(PostbackAttempt.attempted_at.desc(), PostbackAttempt.id.desc()).limit(200))

    def test_merchants(self):
        """Merchants an operator may send a test postback for (a small dropdown)."""
        if not is_operator():
            return []
        return list(Merchant.select(Merchant.id, Merchant.name).order_by(Merchant.name).limit(500))

    @property
    def can_resend(self):
        return self.may("resend")

    @property
    def can_send_test(self):
        return self.may("send_test")


__all__ = ["PostbackView"]
