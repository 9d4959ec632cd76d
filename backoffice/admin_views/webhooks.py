"""Settings → Webhooks, and the operators' list of webhook endpoints (SPEC §10).

**Settings → Webhooks** (``/admin/webhooks/``; the merchant owner for its own merchant,
an operator for any merchant with ``?merchant=<id>``; merchant staff get 403, as on
Settings → System):

* the list of the merchant's endpoints: URL, description, filter, enabled or disabled
  (with the reason), failing since, circuit, last success;
* **Add** (URL, description, event types as checkboxes; none ticked: every type): the
  signing secret is shown once, on the page that answers the form;
* each endpoint's page (``/details/?id=``): its state, **Edit**, **Disable** /
  **Enable**, **Delete** (the button asks first), **Rotate secret** (the new secret is
  shown once; the old one keeps signing next to it for 24 h), **Recover since** (a
  date and time in the viewer's time zone: every event since then that the endpoint
  missed is sent again; the merchant's recovery quota first), **Send test** (the
  merchant's test quota first: ``send_quota``), and its delivery log (the newest
  deliveries, each linking to its Postbacks details page).

An endpoint an operator disabled is enabled (or recovered) by an operator only (the
service says so; the page shows its message).

Every change goes through ``services.webhooks`` (which checks and audits it); a
refused value is shown beside its field and the form keeps what was typed. An
endpoint id outside the user's merchant is a 404.

**Webhook endpoints** (``/admin/webhook_endpoints/``, operators only): every
merchant's endpoints, the disabled ones unless the State filter says otherwise, each
row linking to that merchant's Settings → Webhooks.
"""
from flask import abort, flash, make_response, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import BasePeeweeFilter, FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from peewee import JOIN
from wtforms import DateTimeLocalField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from .. import delivery_errors, labels
from ..i18n import viewer_timezone_name
from ..models import Merchant, Postback, WebhookEndpoint, utcnow
from ..services import postbacks as postback_service
from ..services import webhooks as service
from . import send_quota
from .base import MerchantFilter, ScopedModelView, SecureBaseView, clean_pk, current_role, is_operator, scope_query
from .postbacks import EVENT_TYPE_LABELS, PostbackView
from .timezones import local_to_utc
from .zone_names import zone_label

DELIVERY_LOG_SIZE = 50
MERCHANT_CHOICES_LIMIT = 1000
DISABLED_REASON_LABELS = {
    "failing": _l("no successful delivery for days"),
    "merchant": _l("by the merchant"),
    "operator": _l("by an operator"),
}
STATE_LABELS = {"disabled": _l("Disabled"), "enabled": _l("Enabled"), "all": _l("All")}


def event_type_choices():
    return [(name, EVENT_TYPE_LABELS.get(name, name)) for name in service.EVENT_TYPES]


def event_types_text(endpoint):
    """The endpoint's filter, for people: the event types' names, or "All events"."""
    if not endpoint.event_types:
        return _("All events")
    return ", ".join(str(EVENT_TYPE_LABELS.get(name, name)) for name in endpoint.event_types)


def state_text(endpoint):
    """"Enabled", or "Disabled: <reason>"."""
    if endpoint.enabled:
        return _("Enabled")
    reason = DISABLED_REASON_LABELS.get(endpoint.disabled_reason)
    return _("Disabled: %(reason)s", reason=reason) if reason else _("Disabled")


def circuit_text(endpoint, now=None):
    """Whether the circuit breaker holds the endpoint's deliveries back."""
    now = now or utcnow()
    if endpoint.circuit_until is None:
        return None
    if endpoint.circuit_until > now:
        return "open"
    return "probe"


class EndpointForm(FlaskForm):
    # The rules (URL, SSRF guard, known types) are the service's; its messages name the field.
    # Not "url": the base view reads a request's "url" as where to go next (redirects.safe_next).
    endpoint_url = StringField(_l("URL"), validators=[Length(max=2000)])
    description = StringField(_l("Description (optional)"), validators=[Length(max=service.MAX_DESCRIPTION)])
    event_types = SelectMultipleField(_l("Event types (none ticked: every type)"), validate_choice=False,
                                      widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())


class RecoverForm(FlaskForm):
    since = DateTimeLocalField(_l("Since (your time zone)"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                               validators=[InputRequired(message=_l("Give a date and time."))])


class ButtonForm(FlaskForm):
    pass


# The service's field names that the forms call otherwise.
FORM_FIELDS = {"url": "endpoint_url"}


def field_errors(form, exc):
    """A service's ``WebhookError.fields`` beside the form's fields; the rest flashed."""
    for name, message in (exc.fields or {"": exc.message}).items():
        field = getattr(form, FORM_FIELDS.get(name, name), None) if name else None
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [str(message)]
        else:
            flash(str(message), "error")


def no_store(response):
    """A page showing a secret: not to be kept by the browser or a proxy."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


class WebhooksView(SecureBaseView):
    """Settings → Webhooks (see the module's doc)."""

    # -- whose endpoints ---------------------------------------------------------------------
    def _merchant(self):
        """The merchant the page is about: the owner's own; an operator's ``?merchant=``
        (None: not chosen yet). Staff never reach here (``roles``)."""
        if current_role() == "merchant_owner":
            return Merchant.get_by_id(current_user.merchant_id)
        if not is_operator():
            abort(403)
        merchant_id = clean_pk(Merchant.id, request.args.get("merchant", ""))
        return Merchant.get_or_none(Merchant.id == merchant_id) if merchant_id is not None else None

    def _endpoint(self):
        """The endpoint ``?id=`` names, within the user's scope; 404 otherwise."""
        endpoint_id = clean_pk(WebhookEndpoint.id, request.args.get("id", request.form.get("id")))
        if endpoint_id is None:
            abort(404)
        endpoint = scope_query(WebhookEndpoint.select(), WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id).first()
        if endpoint is None:
            abort(404)
        return endpoint

    def merchant_args(self, merchant_id):
        """The query arguments that keep an operator on this merchant."""
        return {"merchant": merchant_id} if is_operator() else {}

    def _back_to_list(self, endpoint):
        return redirect(url_for(".index", **self.merchant_args(endpoint.merchant_id)))

    def _back_to_details(self, endpoint):
        return redirect(url_for(".details", id=endpoint.id))

    # -- the pages --------------------------------------------------------------------------
    @expose("/")
    def index(self):
        merchant = self._merchant()
        if merchant is None:
            merchants = list(Merchant.select(Merchant.id, Merchant.name, Merchant.active).order_by(Merchant.name)
                             .limit(MERCHANT_CHOICES_LIMIT))
            return self.render("admin/settings_choose_merchant.html", merchants=merchants,
                               title=_("Webhooks"), choose_endpoint=".index")
        endpoints = service.endpoints_of(merchant)
        return self.render("admin/webhooks.html", merchant=merchant, endpoints=endpoints,
                           merchant_arg=self.merchant_args(merchant.id), max_endpoints=service.MAX_ENDPOINTS,
                           now=utcnow(), view_helpers=self._helpers())

    def _helpers(self):
        return {"events": event_types_text, "state": state_text, "circuit": circuit_text}

    def _render_form(self, merchant, form, endpoint=None, status=200):
        return self.render("admin/webhooks_form.html", merchant=merchant, form=form, endpoint=endpoint,
                           merchant_arg=self.merchant_args(merchant.id)), status

    def _form(self, formdata=None, endpoint=None):
        data = None
        if endpoint is not None:
            data = {"endpoint_url": endpoint.url, "description": endpoint.description,
                    "event_types": list(endpoint.event_types or [])}
        form = EndpointForm(formdata=formdata, data=data)
        form.event_types.choices = event_type_choices()
        return form

    @staticmethod
    def _values(form):
        return {"url": form.endpoint_url.data or "", "description": form.description.data or "",
                "event_types": list(form.event_types.data or [])}

    @expose("/new/", methods=("GET", "POST"))
    def add(self):
        merchant = self._merchant() or abort(404)
        if request.method == "GET":
            return self._render_form(merchant, self._form())
        form = self._form(formdata=request.form)
        if not form.validate_on_submit():
            return self._render_form(merchant, form, status=400)
        try:
            endpoint, secret = service.create_endpoint(merchant, self._values(form), current_user.id,
                                                       ip=request.remote_addr)
        except service.WebhookError as exc:
            field_errors(form, exc)
            return self._render_form(merchant, form, status=exc.status)  # 409: the limit of endpoints
        flash(_("The endpoint is added."), "success")
        return no_store(self._render_details(endpoint, new_secret=secret, created=True))

    def _render_details(self, endpoint, recover_form=None, status=200, **extra):
        merchant = Merchant.get_by_id(endpoint.merchant_id)
        deliveries = list(Postback.select().where(Postback.endpoint == endpoint.id)
                          .order_by(Postback.id.desc()).limit(DELIVERY_LOG_SIZE))
        return self.render(
            "admin/webhooks_details.html", merchant=merchant, endpoint=endpoint, deliveries=deliveries,
            recover_form=recover_form or RecoverForm(formdata=None), button_form=ButtonForm(formdata=None),
            merchant_arg=self.merchant_args(merchant.id), now=utcnow(), view_helpers=self._helpers(),
            grace_hours=int(service.SECRET_GRACE.total_seconds() // 3600), event_labels=EVENT_TYPE_LABELS,
            delivery_log_size=DELIVERY_LOG_SIZE, timezone_name=zone_label(viewer_timezone_name()),
            delivery_status=self._delivery_status,
            delivery_error=delivery_errors.describe, unsettled_ids=PostbackView.unsettled_ids, **extra), status

    def _delivery_status(self, delivery):
        """A delivery's status as the Postbacks list shows it (its rows update themselves
        from that list's ``live.json``: the same cell before and after, issue 22 point 7)."""
        postbacks = next((v for v in self.admin._views if v.endpoint == "postbacks"), None)
        if postbacks is None:
            return labels.POSTBACK_STATUS.get(delivery.status, delivery.status)
        return postbacks.get_list_value(None, delivery, "status")

    @expose("/details/")
    def details(self):
        return self._render_details(self._endpoint())

    @expose("/edit/", methods=("GET", "POST"))
    def edit(self):
        endpoint = self._endpoint()
        merchant = Merchant.get_by_id(endpoint.merchant_id)
        if request.method == "GET":
            return self._render_form(merchant, self._form(endpoint=endpoint), endpoint=endpoint)
        form = self._form(formdata=request.form)
        if not form.validate_on_submit():
            return self._render_form(merchant, form, endpoint=endpoint, status=400)
        try:
            changes = service.update_endpoint(endpoint, self._values(form), current_user.id, ip=request.remote_addr,
                                              operator=is_operator())
        except service.WebhookError as exc:
            field_errors(form, exc)
            return self._render_form(merchant, form, endpoint=endpoint, status=400)
        flash(_("The endpoint is saved.") if changes else _("Nothing changed."), "success")
        return self._back_to_details(endpoint)

    def _button(self):
        """The endpoint a button (a CSRF-protected POST) is about."""
        endpoint = self._endpoint()
        if not ButtonForm().validate_on_submit():
            abort(400)
        return endpoint

    @expose("/disable/", methods=("POST",))
    def disable(self):
        endpoint = self._button()
        if service.update_endpoint(endpoint, {"enabled": False}, current_user.id, ip=request.remote_addr,
                                   operator=is_operator()):
            flash(_("The endpoint is disabled: nothing more is sent to it; its pending deliveries end as errors."),
                  "success")
        return self._back_to_details(endpoint)

    @expose("/enable/", methods=("POST",))
    def enable(self):
        endpoint = self._button()
        try:
            changed = service.update_endpoint(endpoint, {"enabled": True}, current_user.id, ip=request.remote_addr,
                                              operator=is_operator())
        except service.WebhookError as exc:  # e.g. an operator switched it off: an operator switches it on
            for message in (exc.fields or {"": exc.message}).values():
                flash(str(message), "error")
            return self._back_to_details(endpoint)
        if changed:
            flash(_("The endpoint is enabled: new events are sent to it. To send it the events it missed, "
                    "use Recover since."), "success")
        return self._back_to_details(endpoint)

    @expose("/delete/", methods=("POST",))
    def delete(self):
        endpoint = self._button()
        service.delete_endpoint(endpoint, current_user.id, ip=request.remote_addr)
        flash(_("The endpoint %(url)s is deleted, with its delivery log.", url=endpoint.url), "success")
        return self._back_to_list(endpoint)

    @expose("/rotate-secret/", methods=("POST",))
    def rotate_secret(self):
        endpoint = self._button()
        secret = service.rotate_secret(endpoint, current_user.id, ip=request.remote_addr)
        return no_store(self._render_details(endpoint, new_secret=secret, rotated=True))

    @expose("/recover/", methods=("POST",))
    def recover(self):
        endpoint = self._endpoint()
        form = RecoverForm()
        if not form.validate_on_submit():
            return self._render_details(endpoint, recover_form=form, status=400)
        try:
            since = local_to_utc(form.since.data)
        except (OverflowError, ValueError):
            form.since.errors = list(form.since.errors) + [_("Give a date and time.")]
            return self._render_details(endpoint, recover_form=form, status=400)
        refusal = send_quota.refused(self, "recover", {endpoint.merchant_id: 1}, url_for(".details", id=endpoint.id))
        if refusal is not None:
            return refusal
        try:
            count = service.recover(endpoint, since, current_user.id, ip=request.remote_addr, operator=is_operator())
        except service.WebhookError as exc:
            send_quota.give_back("recover", {endpoint.merchant_id: 1})  # nothing was re-sent
            field_errors(form, exc)
            return self._render_details(endpoint, recover_form=form, status=400)
        flash(_("The endpoint is enabled. %(n)d event(s) it missed since then will be sent again.", n=count),
              "success")
        return self._back_to_details(endpoint)

    @expose("/test/", methods=("POST",))
    def send_test(self):
        endpoint = self._button()
        if not endpoint.enabled:
            flash(_("Enable the endpoint first: nothing is sent to a disabled endpoint."), "error")
            return self._back_to_details(endpoint)
        refusal = send_quota.refused(self, "test", {endpoint.merchant_id: 1}, url_for(".details", id=endpoint.id))
        if refusal is not None:
            return refusal
        event = postback_service.send_test(endpoint.merchant_id, endpoint=endpoint)
        flash(_("A test event (%(id)s) is on its way to this endpoint.", id=event.event_id), "success")
        return self._back_to_details(endpoint)


# --- the operators' list ------------------------------------------------------------------------

class EndpointStateFilter(BasePeeweeFilter):
    """Disabled (the default), enabled, or all endpoints."""

    basic_blank = False  # the filters' row offers its own "All" (and shows "Disabled" when none is given)

    def __init__(self, name):
        super().__init__(WebhookEndpoint.enabled, name, options=list(STATE_LABELS.items()))

    def validate(self, value):
        return value in STATE_LABELS

    def apply(self, query, value):
        if value == "all":
            return query
        return query.where(WebhookEndpoint.enabled == (value == "enabled"))

    def operation(self):
        return _l("is")


def _merchant_link(view, context, model, name):
    """The merchant's name, linking to its Settings → Webhooks."""
    return Markup('<a href="%s">%s</a>') % (url_for("webhooks.index", merchant=model.merchant_id),
                                            escape(model.merchant.name))


def _url_link(view, context, model, name):
    return Markup('<a href="%s">%s</a>') % (url_for("webhooks.details", id=model.id), model.url)


class WebhookEndpointView(ScopedModelView):
    """Operators: every merchant's webhook endpoints, the disabled ones by default."""

    named_filter_urls = True
    can_set_page_size = True
    column_default_sort = ("id", True)
    column_list = ("id", "merchant", "url", "description", "enabled", "disabled_reason", "disabled_at",
                   "failing_since", "consecutive_failures", "circuit_until", "last_success_at", "created_at")
    column_details_list = column_list + ("event_types", "previous_secret_until")
    column_sortable_list = ("id", "disabled_at", "failing_since", "last_success_at", "created_at")
    column_labels = {
        "id": _l("ID"), "merchant": _l("Merchant"), "url": _l("URL"), "description": _l("Description"),
        "enabled": _l("Enabled"), "disabled_reason": _l("Disabled because"), "disabled_at": _l("Disabled at"),
        "failing_since": _l("Failing since"), "consecutive_failures": _l("Failures in a row"),
        "circuit_until": _l("Circuit open until"), "last_success_at": _l("Last success"),
        "created_at": _l("Created"), "event_types": _l("Event types"),
        "previous_secret_until": _l("Previous secret signs until"),
    }
    column_formatters = {
        "merchant": _merchant_link,
        "url": _url_link,
        "disabled_reason": lambda v, c, m, n: DISABLED_REASON_LABELS.get(m.disabled_reason, m.disabled_reason or ""),
        "event_types": lambda v, c, m, n: event_types_text(m),
    }
    column_formatters_detail = column_formatters
    column_filters = (
        EndpointStateFilter(name=_l("State")),
        FilterEqual(column=WebhookEndpoint.disabled_reason, name=_l("Disabled because"),
                    options=list(DISABLED_REASON_LABELS.items())),
        MerchantFilter(column=WebhookEndpoint.merchant),
    )
    column_filters_basic = column_filters  # at once above the list (issue 22, point 2)
    column_default_hidden = ("description", "circuit_until", "created_at")
    column_classes = {"url": "bo-wrap", "description": "bo-wrap"}
    list_live = True
    list_template = "admin/webhook_endpoints_list.html"

    def get_query(self):
        query = WebhookEndpoint.select(WebhookEndpoint, Merchant).join(Merchant, JOIN.INNER).switch(WebhookEndpoint)
        return scope_query(query, WebhookEndpoint)

    def _get_list_filter_args(self):
        """No filter asked for: the disabled endpoints (the State filter shows it)."""
        filters = super()._get_list_filter_args()
        if not any(arg.startswith("flt") for arg in request.args):
            index = next(i for i, flt in enumerate(self._filters) if isinstance(flt, EndpointStateFilter))
            filters = [(index, str(self._filters[index].name), "disabled")]
        return filters


__all__ = ["WebhookEndpointView", "WebhooksView"]
