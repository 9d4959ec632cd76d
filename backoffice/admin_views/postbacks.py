"""Postbacks: every delivery of an event to a webhook endpoint, and its attempt log
(operators: all; merchants: their own).

* list with filters by status, type, date, merchant and endpoint; an Endpoint column
  (its URL, linking to the endpoint on Settings → Webhooks); details with the
  endpoint and every attempt;
* action **Resend** (operators and merchant owners): a new delivery of the same event
  to the same endpoint;
* who may open the screen and each page: ``backoffice.roles`` (owners and operators;
  merchant staff get 403, SPEC §1);
* ``POST /admin/postbacks/test/``: **Send test postback** to every enabled endpoint of
  the merchant that takes ``test`` events (Settings → System links here; Settings →
  Webhooks sends to one endpoint);
* ``GET /admin/postbacks/docs/``: the merchant documentation (payloads, a receiver);
* ``GET /admin/postbacks/live.json?id=…``: the state of deliveries, scoped like the list:
  a row not settled yet (a test just sent, a resend) updates itself from it until it is
  sent or in error (issue 22, point 7; ``static/live_rows.js``).

Every resend and test send takes the merchant's quota first (``send_quota.refused``:
``429`` with ``Retry-After``, nothing sent, when it is spent), here and on the
Transactions and Withdrawals screens (:func:`resend_for_objects`).

Scoping is the base class's (``merchant`` FK): a merchant user's list, details and
action row ids only ever reach their own merchant's postbacks.
"""
import json

from collections import Counter

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual, FilterLike
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from peewee import JOIN, fn

from .. import delivery_errors, labels
from ..models import EVENT_TYPES, Merchant, Postback, PostbackAttempt, WebhookEndpoint, utcnow
from ..redirects import safe_next
from ..services import postbacks as service
from ..services import webhooks
from . import send_quota
from . import badges
from .base import MerchantFilter, ScopedModelView, clean_pk, is_operator, scope_query
from .timezones import LocalDateTimeBetweenFilter, LocalMomentFromFilter, LocalMomentToFilter

EVENT_TYPE_LABELS = labels.EVENT_TYPE  # (one vocabulary: the timeline names the events too)

RECEIVER_EXAMPLE = '''from flask import Flask, request, abort
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

app = Flask(__name__)
hook = Webhook("whsec_...")  # your endpoint's secret (Settings -> Webhooks)

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


def _last_error(view, context, model, name):
    """The last failure in words (``delivery_errors``): the technical text in its title."""
    described = delivery_errors.describe(model.last_error, model.last_http_status)
    return described.compact_html() if described is not None else ""


def _last_error_detail(view, context, model, name):
    """The last failure in words, the technical text in a collapsed <details>."""
    described = delivery_errors.describe(model.last_error, model.last_http_status)
    return Markup(described.__html__()) if described is not None else ""


def endpoint_link(endpoint_id, url):
    """An endpoint's URL, linking to it on Settings → Webhooks ("—": a delivery from
    before endpoints existed)."""
    if endpoint_id is None:
        return "—"
    return Markup('<a href="%s" data-endpoint="%d">%s</a>') % (
        url_for("webhooks.details", id=endpoint_id), endpoint_id, url or "")


def _endpoint(view, context, model, name):
    return endpoint_link(model.endpoint_id, model.endpoint.url if model.endpoint_id else None)


def resend_for_objects(view, object_type, ids):
    """The Resend postback action of the Transactions and Withdrawals screens: the
    newest status event of each (already scoped) object, delivered again to every
    enabled endpoint of its merchant that takes it. The merchants' resend quota is
    taken first (one per delivery); a refusal is the ``429`` response to return."""
    events = service.latest_events_for_objects(object_type, ids)
    merchants = sorted({event.merchant_id for event in events})
    enabled = WebhookEndpoint.enabled == True  # noqa: E712
    endpoints = list(WebhookEndpoint.select().where(WebhookEndpoint.merchant.in_(merchants) & enabled)
                     ) if merchants else []
    deliveries = Counter()
    for event in events:
        deliveries[event.merchant_id] += sum(1 for e in endpoints if e.merchant_id == event.merchant_id
                                             and service.takes(e, event.event_type))
    refusal = send_quota.refused(view, "resend", deliveries, request.values.get("url"))
    if refusal is not None:
        return refusal
    resent = [service.resend_event(event, actor=current_user.id, ip=request.remote_addr) for event in events]
    flash(_("%(n)d postback(s) will be sent again.", n=len(resent)), "success" if resent else "info")
    return None


class PostbackView(ScopedModelView):
    column_default_sort = ("id", True)
    column_list = ("id", "event_id", "merchant", "endpoint", "event_type", "object_type", "object_id", "status",
                   "attempts", "last_http_status", "last_error", "next_attempt_at", "created_at", "sent_at")
    # At 1366 px (issue 22); the chooser adds the rest.
    column_default_hidden = ("object_type", "object_id", "last_http_status", "next_attempt_at")
    column_classes = {"endpoint": "bo-wrap", "last_error": "bo-wrap"}
    list_live = True
    column_details_list = ("id", "event_id", "merchant", "endpoint", "event_type", "object_type", "object_id",
                           "status", "delivery", "attempts", "last_http_status", "last_error", "next_attempt_at",
                           "created_at", "sent_at", "payload")
    column_labels = {
        "id": _l("ID"), "event_id": _l("Event ID"), "merchant": _l("Merchant"), "endpoint": _l("Endpoint"),
        "event_type": _l("Type"),
        "object_type": _l("Object"), "object_id": _l("Object ID"), "status": _l("Status"),
        "attempts": _l("Attempts"), "delivery": _l("Delivery"), "last_http_status": _l("Last HTTP status"),
        "last_error": _l("Last error"), "next_attempt_at": _l("Next attempt"), "created_at": _l("Created"),
        "sent_at": _l("Sent"), "payload": _l("Payload"),
    }
    column_formatters = {
        "status": badges.POSTBACK_STATUS_BADGE,
        "event_type": _event_type,
        "endpoint": _endpoint,
        "last_error": _last_error,
    }
    column_formatters_detail = {
        "status": labels.formatter(labels.POSTBACK_STATUS, "status"),
        "event_type": _event_type,
        "endpoint": _endpoint,
        "payload": _payload,
        "last_error": _last_error_detail,
    }
    column_filters = (
        FilterEqual(column=Postback.status, name=_l("Status"), options=labels.choices(labels.POSTBACK_STATUS)),
        FilterEqual(column=Postback.event_type, name=_l("Type"),
                    options=[(t, EVENT_TYPE_LABELS[t]) for t in EVENT_TYPES]),
        LocalDateTimeBetweenFilter(column=Postback.created_at, name=_l("Created")),  # the viewer's zone
        LocalDateTimeBetweenFilter(column=Postback.sent_at, name=_l("Sent")),
        FilterEqual(column=Postback.event_id, name=_l("Event ID")),
        FilterEqual(column=Postback.object_id, name=_l("Object ID")),
        MerchantFilter(column=Postback.merchant),  # operators' (merchant users: their own list)
        FilterEqual(column=Postback.endpoint, name=_l("Endpoint ID")),  # scoped like the list
        FilterLike(column=WebhookEndpoint.url, name=_l("Endpoint URL")),  # joined by get_query
        LocalMomentFromFilter(column=Postback.created_at, name=_l("Created")),
        LocalMomentToFilter(column=Postback.created_at, name=_l("Created")),
    )
    # Merchant, status, type, created from / to, event ID: at once above the list (issue 22, point 2).
    column_filters_basic = (column_filters[6], column_filters[0], column_filters[1], column_filters[9], column_filters[10], column_filters[4])
    list_template = "admin/postbacks_list.html"
    details_template = "admin/postbacks_details.html"

    def get_query(self):
        # The endpoint's URL and the merchant's name in the same query: no query per row.
        query = (Postback.select(Postback, WebhookEndpoint, Merchant)
                 .join(WebhookEndpoint, JOIN.LEFT_OUTER, on=(Postback.endpoint == WebhookEndpoint.id))
                 .switch(Postback)
                 .join(Merchant, on=(Postback.merchant == Merchant.id))
                 .switch(Postback))
        return scope_query(query, Postback)

    def _handle_join(self, query, field, joins):
        # get_query joined these already (Flask-Admin would join them again for a filter).
        joins.update(("WebhookEndpoint", "Merchant"))
        return super()._handle_join(query, field, joins)

    @staticmethod
    def sendable(ids):
        """The deliveries of ``ids`` whose endpoint is enabled: a disabled endpoint (or
        none, a delivery from before endpoints) sends nothing, so a resend would wait
        for ever."""
        if not ids:
            return []
        return [pk for (pk,) in Postback.select(Postback.id)
                .join(WebhookEndpoint, on=(Postback.endpoint == WebhookEndpoint.id))
                .where(Postback.id.in_(ids) & (WebhookEndpoint.enabled == True)).tuples()]  # noqa: E712

    @action("resend", _l("Resend"), _l("Send the selected postbacks again (same event id)?"))
    def action_resend(self, ids):
        # The role table allowed the action (base class); ``ids`` are already narrowed to the user's scope.
        ids = sorted(ids)
        sendable = self.sendable(ids)
        per_merchant = Counter(dict(Postback.select(Postback.merchant, fn.COUNT(Postback.id))
                                    .where(Postback.id.in_(sendable)).group_by(Postback.merchant).tuples())
                               ) if sendable else {}
        refusal = send_quota.refused(self, "resend", per_merchant,
                                     request.values.get("url") or self.get_url(".index_view"))
        if refusal is not None:
            return refusal
        resent = [service.resend(pk, actor=current_user.id, ip=request.remote_addr) for pk in sendable]
        flash(_("%(n)d postback(s) will be sent again.", n=len(resent)), "success")
        if len(sendable) < len(ids):
            flash(_("%(n)d postback(s) were not sent again: their endpoint is disabled or deleted. Enable it on "
                    "Settings, Webhooks (Recover since sends what it missed).", n=len(ids) - len(sendable)), "error")
        return None

    @expose("/resend/", methods=("POST",))
    def resend_view(self):
        """The Resend button of the details page (one postback); who: ``roles`` "resend"."""
        postback = self.get_one(request.form.get("id"))  # 404 outside the user's scope
        back = self.get_url(".details_view", id=postback.id)
        if not self.sendable([postback.id]):
            flash(_("Its endpoint is disabled or deleted: nothing is sent to it. Enable it on Settings, Webhooks "
                    "(Recover since sends what it missed)."), "error")
            return redirect(back)
        refusal = send_quota.refused(self, "resend", {postback.merchant_id: 1}, back)
        if refusal is not None:
            return refusal
        service.resend(postback, actor=current_user.id, ip=request.remote_addr)
        flash(_("Postback %(id)s will be sent again.", id=postback.event_id), "success")
        return redirect(back)

    @expose("/test/", methods=("POST",))
    def send_test_view(self):
        """Send test postback: a ``test`` event to every enabled endpoint of the merchant
        that takes it (``roles`` "send_test"); the merchant's test quota first."""
        back = safe_next(request.form.get("next")) or self.get_url(".index_view")
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
        if not any(e.enabled and service.takes(e, "test") for e in webhooks.endpoints_of(merchant)):
            flash(_("No enabled webhook endpoint takes test events: add one or enable one on Settings, Webhooks."),
                  "error")
            return redirect(back)
        refusal = send_quota.refused(self, "test", {merchant.id: 1}, back)
        if refusal is not None:
            return refusal
        event = service.send_test(merchant)
        flash(_("A test postback (%(id)s) is on its way to %(n)d endpoint(s).", id=event.event_id,
                n=event.deliveries_created), "success")
        return redirect(back)

    # -- rows that update themselves until they settle (issue 22, point 7) ------------------
    # The cells of a delivery that change as it is sent, and how many rows one request asks about.
    LIVE_COLUMNS = ("status", "attempts", "last_http_status", "last_error", "next_attempt_at", "sent_at")
    LIVE_MAX_IDS = 200

    @staticmethod
    def unsettled_ids(rows):
        """The ids of the rows shown that are not settled yet (``static/live_rows.js`` asks
        about them until they are)."""
        return [row.id for row in rows if not service.is_settled(row)]

    @expose("/live.json")
    def live_view(self):
        """``GET /admin/postbacks/live.json?id=…&id=…``: the state of these deliveries,
        scoped like the list (another merchant's id is not answered), each changing cell
        rendered as the list renders it, ``settled`` once it changes no more by itself,
        and ``poll_after``: the seconds until one that is not settled can have changed
        (None: all settled). The Postbacks list and an endpoint's delivery log poll it for
        their rows that are not settled (``static/live_rows.js``); who: ``roles`` "live"."""
        ids = [pk for pk in (clean_pk(Postback.id, raw) for raw in request.args.getlist("id")[:self.LIVE_MAX_IDS])
               if pk is not None]
        rows = list(self.get_query().where(Postback.id.in_(ids))) if ids else []
        answer = []
        for row in rows:
            label = labels.POSTBACK_STATUS.get(row.status, row.status)
            answer.append({
                "id": row.id, "event_id": row.event_id, "status": row.status, "settled": service.is_settled(row),
                "announce": _("Postback %(id)s: %(status)s.", id=row.event_id, status=label),
                "cells": {name: str(escape(self.get_list_value(None, row, name))) for name in self.LIVE_COLUMNS},
            })
        return jsonify({"rows": answer, "poll_after": service.seconds_until_change(rows, utcnow())})

    @expose("/docs/")
    def docs_view(self):
        examples = {kind: json.dumps(body, indent=2) for kind, body in service.example_payloads().items()}
        return self.render("admin/postbacks_docs.html", examples=examples, receiver=RECEIVER_EXAMPLE,
                           event_labels=EVENT_TYPE_LABELS)

    @staticmethod
    def attempt_error(attempt):
        """An attempt's failure in words (``delivery_errors``; None: it succeeded)."""
        return delivery_errors.describe(attempt.error, attempt.http_status)

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
