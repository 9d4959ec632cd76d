"""Payments → Withdrawals (every role; merchants see their own).

* The list: every filter and column of SPEC §4, CSV export, scoped by the base class.
* **Add withdrawal request** (``/new/``): merchant owners and operators; merchant staff
  get 403. Step one picks the payment system (operators also the merchant); step two
  is a form built from that system's field schema, with the available balance.
* Decisions (operators only): the row buttons and the bulk actions lead to
  ``/decide/``, where the sender wallet is chosen (one per merchant and payment
  system among the selected requests) and each request's payout reference (and,
  optionally, receipt picture) given, or the rejection reason. Above the merchant's
  dual-approval threshold the first approval is only recorded ("1 of 2 approvals").
  The business rules live in ``backoffice.services.withdrawals``.
* Cancel (merchant owners, their own new requests): a POST (CSRF token) from the
  list's row button or the details page, to ``/cancel/``.
* The payout receipt: ``/receipt/?id=``, scoped like the details page (the
  merchant's users and operators).
* Bulk approval from a CSV file (operators): ``/approve-csv/``, with a per-line
  report (``services.withdrawals.approve_from_csv``).
* The payment system's withdrawal fields as people read them (issue 22): the form asks,
  and the details and approve pages show, each field once with its label (the schema's,
  translated), whatever the schema lists: ``form_fields`` and ``payout_fields``, with
  ``FIELD_COLUMNS`` naming the schema fields that are also the request's own columns.
  The approve page lays out everything the payout needs, with copy buttons for the
  recipient's account and the amount.
"""
import json
from dataclasses import dataclass

from flask import abort, flash, has_request_context, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual, FilterLike
from flask_admin.model.template import BaseListRowAction
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from peewee import JOIN
from wtforms import TextAreaField

from .. import labels
from ..i18n import format_datetime, format_money, money_text
from ..models import STANDARD_WITHDRAWAL_FIELDS, Merchant, PaymentSystem, Wallet, Withdrawal
from ..money import AmountError, amount_example, parse_typed_amount, to_str
from ..security import private_upload_response
from ..services import receipts
from ..services import withdrawals as service
from ..services.ledger import available, balances
from .identity import actor_formatter, actor_label
from . import badges
from .base import (MerchantFilter, ScopedModelView, clean_pk, current_role, is_operator, payment_system_choices,
                   scope_query)
from .postbacks import resend_for_objects
from .timezones import date_filters


# The request date: from, to (a date, or a date and time, in the viewer's zone) and between.
REQUEST_DATE_FROM, REQUEST_DATE_TO, REQUEST_DATE_BETWEEN = date_filters(Withdrawal.created_at, _l("Request date"))


# -- the payment systems' withdrawal fields, as people read them ----------------------------------
# The standard fields' labels (SPEC §3): for a schema entry without a label of its own, and for
# a stored field the schema no longer lists.
FIELD_LABELS = {
    "recipient_wallet": _l("Recipient wallet number"),
    "recipient_name": _l("Recipient name"),
    "bank_name": _l("Bank name"),
    "branch_code": _l("Branch / IFSC code"),
    "account_type": _l("Account type"),
    "email": _l("E-mail"),
    "comment": _l("Comment"),
}
# The other labels the demo's schemas give (backoffice/demo.py), marked for the catalog: a
# schema's label is shown translated whenever the catalog knows it (operators may write others).
SCHEMA_LABELS = (_l("Recipient UPI ID"), _l("IFSC code"))
# Schema fields that are also the request's own columns: the recipient's wallet number is
# kept in ``wallet_recipient`` too (the list's column and filter), and the standard
# ``comment`` field is the request's ``comment``. The form asks each once and the pages show
# each once, whatever the schema lists (bKash's schema lists ``comment``: it was asked, and
# shown, twice).
FIELD_COLUMNS = {"recipient_wallet": "wallet_recipient", "comment": "comment"}
# What the approve page offers to copy besides the amount: what is typed into the paying wallet.
COPYABLE_FIELDS = ("recipient_wallet",)


def field_label(name, label=None):
    """The label people see for a withdrawal field: the schema's own, translated when the
    catalog knows it; else the standard field's. A schema's label the catalog does not
    know (an operator's own words, in English) gives way to the standard field's
    translated label for a viewer of another language (issue 22, point 5: never an
    English label on a Russian page when the field is a standard one)."""
    if label and label != name:
        translated = _(label)
        locale = get_locale()
        if translated != label or name not in FIELD_LABELS or locale is None or locale.language == "en":
            return translated
    return str(FIELD_LABELS.get(name, name))


def schema_words(view, context, model, name):
    """A payment system's withdrawal fields as people read them (its details page): each
    with its label in the viewer's language (:func:`field_label`), whether it is required,
    and its pattern as code (issue 22, point 5: never the schema's JSON)."""
    rows = []
    for entry in getattr(model, name) or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        need = _("required") if entry.get("required") else _("optional")
        pattern = Markup(" <code>%s</code>") % entry["pattern"] if entry.get("pattern") else ""
        rows.append(Markup("<li>%s (%s)%s</li>") % (field_label(entry["name"], entry.get("label")), need, pattern))
    if not rows:
        return _("(none)")
    return Markup('<ul class="list-unstyled mb-0">%s</ul>') % Markup("").join(rows)


@dataclass
class FormField:
    """One input of the request form: ``name`` the field, ``input`` the form's name for it,
    ``errors`` the fault keys shown beside it."""

    name: str
    input: str
    label: str
    required: bool
    errors: tuple

    @property
    def element_id(self):
        return "comment" if self.name == "comment" else f"f-{self.name}"

    @property
    def multiline(self):
        return self.name == "comment"


def form_fields(payment_system):
    """``(fields, comment)``: the request form's payment-system inputs in the schema's
    order, and its one comment input (asked last): the schema's ``comment`` field (its
    label, whether required) when the schema lists one, else the request's own comment."""
    fields, comment = [], None
    for entry in payment_system.withdrawal_fields or []:
        name = entry["name"]
        item = FormField(name, f"fields.{name}", field_label(name, entry.get("label")),
                         bool(entry.get("required")), (f"fields.{name}",))
        if name == "comment":
            item.errors += ("comment",)
            comment = item
        else:
            fields.append(item)
    return fields, comment or FormField("comment", "comment", str(FIELD_LABELS["comment"]), False, ("comment",))


@dataclass
class PayoutField:
    name: str
    label: str
    values: list

    @property
    def copyable(self):
        return self.name in COPYABLE_FIELDS and len(self.values) == 1


def _field_values(withdrawal, name):
    """The distinct non-empty values a request holds for a field: in ``fields`` and, for
    a field that is also a column (``FIELD_COLUMNS``), in that column."""
    found = [(withdrawal.fields or {}).get(name)]
    if name in FIELD_COLUMNS:
        found.append(getattr(withdrawal, FIELD_COLUMNS[name]))
    values = []
    for value in found:
        value = (value if isinstance(value, str) else "" if value is None else str(value)).strip()
        if value and value not in values:
            values.append(value)
    return values


def payout_fields(withdrawal):
    """The request's payment-system fields as people read them: each once, with its label,
    in the schema's order, then any stored field the schema no longer lists; the comment
    last. A field whose value is stored twice (``FIELD_COLUMNS``) shows both only when they
    differ; empty fields are left out."""
    schema = withdrawal.payment_system.withdrawal_fields or []
    labels_by_name = {entry["name"]: entry.get("label") for entry in schema}
    names = list(labels_by_name)
    names += [name for name in STANDARD_WITHDRAWAL_FIELDS if name not in labels_by_name]
    names += sorted(name for name in (withdrawal.fields or {}) if name not in names)
    names.sort(key=lambda name: name == "comment")  # stable: only the comment moves, to the end
    rows = []
    for name in names:
        values = _field_values(withdrawal, name)
        if values:
            rows.append(PayoutField(name, field_label(name, labels_by_name.get(name)), values))
    return rows


def _wallet_sender(view, context, model, name):
    return model.wallet_sender.number if model.wallet_sender_id else ""


def _fields(view, context, model, name):
    return "; ".join(f"{row.label}: {' / '.join(row.values)}" for row in payout_fields(model))


def _field_column(field_name):
    """The list's (and the CSV's) column of a field kept twice: its value(s), once."""

    def _format(view, context, model, name):
        return " / ".join(_field_values(model, field_name))

    return _format


def _amount(view, context, model, name):
    return format_money(model.amount, model.currency)


def _status(view, context, model, name):
    """The status as a badge; operators also see a pending first approval ("1 of 2 approvals")."""
    label = badges.badge(model.status, labels.WITHDRAWAL_STATUS, badges.WITHDRAWAL_STATUS)
    if model.status == "new" and model.first_approved_by_id is not None and is_operator():
        return Markup('%s <span class="badge bo-badge bo-badge-info" data-testid="approvals">%s</span>') % (
            label, _("%(given)d of %(required)d approvals", given=1, required=2))
    return label


def _receipt(view, context, model, name):
    if not model.payout_receipt_type:
        return ""
    url = view.get_url(".receipt_view", id=model.id)
    return Markup('<a href="%s" target="_blank" rel="noopener" data-testid="payout-receipt">'
                  '<img src="%s" alt="%s" class="bo-receipt"></a>') % (
        url, url, _("Payout receipt"))


def _first_approval(view, context, model, name):
    if model.first_approved_by_id is None:
        return ""
    return _("%(who)s, %(when)s", who=actor_label(model.first_approved_by),
             when=format_datetime(model.first_approved_at))


OPERATOR_ONLY_DETAILS = ("first_approved_by",)


class DecideRowAction(BaseListRowAction):
    """A row button to approve or reject, shown on requests that are still new."""

    def __init__(self, view, decision, icon_class, title):
        super().__init__(title=title)
        self.view, self.decision, self.icon_class = view, decision, icon_class

    def render(self, context, row_id, row):
        if not service.awaiting_decision(row):
            return ""
        link = self._resolve_symbol(context, "row_actions.link")
        return link(self, self.view._decide_url(self.decision, [row_id]))


class CancelRowAction(BaseListRowAction):
    """The merchant owner's row button to cancel a new request: a POST with the CSRF token."""

    def __init__(self, view):
        super().__init__(title=_("Cancel request"))
        self.view = view

    def render(self, context, row_id, row):
        if not self.view.may_cancel(row):
            return ""
        return cancel_form(self.view, row, icon=True)


def cancel_form(view, withdrawal, icon=False):
    """The cancel button of a request (list row or details page), asking first (the
    question in ``data-confirm``: static/backoffice.js asks it; no inline handler)."""
    question = _("Cancel withdrawal request %(id)s? The amount becomes available again.",
                 id=withdrawal.withdrawal_id)
    if icon:
        button = Markup('<button type="submit" title="%s" data-testid="cancel-withdrawal" '
                        'data-confirm="%s"><span class="fa fa-ban"></span></button>') % (
            _("Cancel request"), question)
        css = "icon"
    else:
        button = Markup('<button type="submit" class="btn btn-outline-danger" data-testid="cancel-withdrawal" '
                        'data-confirm="%s">%s</button>') % (question, _("Cancel request"))
        css = "d-inline"
    return Markup('<form class="%s" method="POST" action="%s"><input type="hidden" name="id" value="%s">'
                  '<input type="hidden" name="csrf_token" value="%s">%s</form>') % (
        css, view.get_url(".cancel_view"), withdrawal.id, generate_csrf(), button)


class WithdrawalView(ScopedModelView):
    list_template = "admin/withdrawals_list.html"
    details_template = "admin/withdrawals_details.html"
    # Flask-Admin's own create form is not used: ``create_view`` below builds the form
    # from the payment system's schema; the list shows its own "Add" link (may_create).
    can_create = False
    column_default_sort = ("id", True)
    column_list = (
        "merchant", "payment_system", "id", "created_at", "amount", "withdrawal_id", "wallet_sender",
        "wallet_recipient", "label", "comment", "request_kind", "postback_status", "status",
    )
    column_default_hidden = ("request_kind",)
    column_classes = {"label": "bo-wrap-narrow", "comment": "bo-wrap", "wallet_recipient": "bo-wrap-narrow"}
    list_live = True
    # "fields" stands for the request's payment-system fields, each on its own labelled row
    # (the recipient's wallet and the comment among them: ``payout_fields``).
    column_details_list = (
        "id", "merchant", "payment_system", "withdrawal_id", "amount", "label", "fields",
        "request_kind", "status", "first_approved_by", "wallet_sender", "payout_reference",
        "payout_receipt_type", "reject_reason", "decided_by", "decided_at", "postback_status", "created_at",
    )
    column_export_list = (
        "payment_system", "id", "created_at", "amount", "currency", "withdrawal_id", "wallet_sender",
        "wallet_recipient", "label", "comment", "request_kind", "postback_status", "status", "payout_reference",
        "reject_reason", "decided_at",
    )
    column_labels = {
        "payment_system": _l("Wallet type"), "id": _l("ID"), "created_at": _l("Request date"),
        "amount": _l("Amount"), "currency": _l("Currency"), "withdrawal_id": _l("Withdrawal ID"),
        "wallet_sender": _l("Wallet sender"), "wallet_recipient": _l("Wallet recipient"),
        "label": _l("Label"), "comment": _l("Comment"), "request_kind": _l("Request kind"),
        "postback_status": _l("Postback"), "status": _l("Status"), "merchant": _l("Merchant"),
        "fields": _l("Fields"), "reject_reason": _l("Reject reason"), "decided_by": _l("Decided by"),
        "decided_at": _l("Decided at"), "payout_reference": _l("Payout reference"),
        "payout_receipt_type": _l("Payout receipt"), "first_approved_by": _l("First approval"),
    }
    column_formatters = {
        "status": _status,
        "postback_status": badges.WITHDRAWAL_POSTBACK_BADGE,
        "request_kind": labels.formatter(labels.REQUEST_KIND, "request_kind"),
        "wallet_sender": _wallet_sender,
        "wallet_recipient": _field_column("recipient_wallet"),
        "comment": _field_column("comment"),
        "amount": _amount,
        "fields": _fields,
        "payout_receipt_type": _receipt,
        "first_approved_by": _first_approval,
        "decided_by": actor_formatter("decided_by"),
    }
    # Who acted goes through the same formatters in the CSV (merchants see "Operator").
    column_formatters_export = {
        "first_approved_by": _first_approval,
        "decided_by": actor_formatter("decided_by"),
        "status": labels.formatter(labels.WITHDRAWAL_STATUS, "status"),
        "postback_status": labels.formatter(labels.WITHDRAWAL_POSTBACK_STATUS, "postback_status"),
        "request_kind": labels.formatter(labels.REQUEST_KIND, "request_kind"),
        "wallet_sender": _wallet_sender,
        "wallet_recipient": _field_column("recipient_wallet"),
        "comment": _field_column("comment"),
        "amount": lambda view, context, model, name: to_str(model.amount),
    }
    column_filters = (
        FilterEqual(column=Withdrawal.payment_system, name=_l("Wallet type"), options=payment_system_choices),
        FilterLike(column=Withdrawal.wallet_recipient, name=_l("Recipient")),
        FilterEqual(column=Withdrawal.label, name=_l("Label")),
        FilterEqual(column=Withdrawal.postback_status, name=_l("Postback"),
                    options=labels.choices(labels.WITHDRAWAL_POSTBACK_STATUS)),
        FilterEqual(column=Withdrawal.withdrawal_id, name=_l("Withdrawal ID")),
        FilterEqual(column=Withdrawal.status, name=_l("Status"), options=labels.choices(labels.WITHDRAWAL_STATUS)),
        REQUEST_DATE_FROM,
        REQUEST_DATE_TO,
        REQUEST_DATE_BETWEEN,
        MerchantFilter(column=Withdrawal.merchant),
    )
    # The basic filters, at once above the list (issue 22, point 2); the rest under "Add Filter".
    column_filters_basic = (column_filters[9], column_filters[0], column_filters[2], column_filters[4], column_filters[5], column_filters[6], column_filters[7])

    def get_query(self):
        # Merchant, payment system and the sender wallet in the same query: no query per row.
        query = (Withdrawal.select(Withdrawal, Merchant, PaymentSystem, Wallet)
                 .join(Merchant, on=(Withdrawal.merchant == Merchant.id)).switch(Withdrawal)
                 .join(PaymentSystem, on=(Withdrawal.payment_system == PaymentSystem.id)).switch(Withdrawal)
                 .join(Wallet, JOIN.LEFT_OUTER, on=(Withdrawal.wallet_sender == Wallet.id)).switch(Withdrawal))
        return scope_query(query, Withdrawal)

    def _handle_join(self, query, field, joins):
        joins.update(("Merchant", "PaymentSystem", "Wallet"))  # joined by get_query already
        return super()._handle_join(query, field, joins)

    # The first of two approvals is operators' business: merchant users do not see that row.
    @property
    def _details_columns(self):
        columns = self.__dict__.get("_details_columns_cached", [])
        if has_request_context() and not is_operator():
            return [column for column in columns if column[0] not in OPERATOR_ONLY_DETAILS]
        return columns

    @_details_columns.setter
    def _details_columns(self, value):
        self.__dict__["_details_columns_cached"] = value

    # -- operators' row buttons and bulk actions ------------------------------------------------
    def get_list_row_actions(self):
        actions = super().get_list_row_actions()
        if is_operator():
            actions = actions + [DecideRowAction(self, "approve", "fa fa-check", _("Approve")),
                                 DecideRowAction(self, "reject", "fa fa-times", _("Reject"))]
        elif current_role() == "merchant_owner":
            actions = actions + [CancelRowAction(self)]
        return actions

    def is_action_allowed(self, name):
        if name in ("approve", "reject", "resend_postback"):
            return is_operator()
        return super().is_action_allowed(name)

    def _decide_url(self, decision, ids):
        return self.get_url(".decide_view", decision=decision, id=[str(i) for i in ids])

    @action("approve", _l("Approve"))
    def action_approve(self, ids):
        return redirect(self._decide_url("approve", ids))

    @action("reject", _l("Reject"))
    def action_reject(self, ids):
        return redirect(self._decide_url("reject", ids))

    @action("resend_postback", _l("Resend postback"), _l("Send the postbacks of the selected requests again?"))
    def action_resend_postback(self, ids):
        return resend_for_objects(self, "withdrawal", ids)

    def _selected(self, raw_ids):
        ids = self.scoped_ids(raw_ids)
        if not ids:
            return []
        return list(self.get_query().where(Withdrawal.id.in_(ids)).order_by(Withdrawal.id))

    @expose("/decide/", methods=("GET", "POST"))
    def decide_view(self):
        if not is_operator():
            abort(403)
        source = request.form if request.method == "POST" else request.args
        decision = source.get("decision")
        if decision not in ("approve", "reject"):
            abort(400)
        selected = self._selected(source.getlist("id"))
        if not selected:
            abort(404)
        pending, decided, groups = service.decision_groups(selected, current_user)
        errors, row_errors = {}, {}
        values = {"reason": "", "references": {}}
        if request.method == "POST" and pending:
            ip = request.remote_addr or ""
            try:
                if decision == "approve":
                    values["references"] = {w.id: request.form.get(f"reference_{w.id}", "") for w in pending}

                    def wallet_for(w):
                        raw = request.form.get(f"wallet_{service.decision_group_key(w)}")
                        value = clean_pk(Wallet.id, raw)
                        return Wallet.get_or_none(Wallet.id == value) if value is not None else None

                    def receipt_for(w):
                        upload = request.files.get(f"receipt_{w.id}")
                        return upload.read(receipts.MAX_BYTES + 1) if upload and upload.filename else None

                    done, refused = service.approve_many(pending, current_user, wallet_for,
                                                         lambda w: values["references"].get(w.id, ""),
                                                         receipt_for, ip=ip)
                else:
                    values["reason"] = request.form.get("reason", "")
                    done, refused = service.reject_many(pending, current_user, values["reason"], ip=ip)
            except service.ValidationFailed as exc:
                errors = {d["field"]: d["message"] for d in exc.details} or {"_": exc.message}
            else:
                approved = [w for w in done if w.status != "new"]
                first = [w for w in done if w.status == "new"]
                if approved:
                    flash(_("%(n)d withdrawal request(s) %(what)s.", n=len(approved),
                            what=_("approved") if decision == "approve" else _("rejected")), "success")
                if first:
                    flash(_("First approval recorded for %(ids)s (1 of 2): another operator must approve.",
                            ids=", ".join(w.withdrawal_id for w in first)), "info")
                if not refused:
                    return redirect(self.get_url(".index_view"))
                for w, message in refused:
                    row_errors[w.id] = message
                if done:
                    for w, message in refused:
                        flash(_("Withdrawal %(id)s: %(message)s", id=w.withdrawal_id, message=message), "error")
                    return redirect(self.get_url(".index_view"))
                errors = {"_": _("Nothing was decided.")}
        return self.render("admin/withdrawals_decide.html", decision=decision, selected=selected,
                           pending=pending, decided=decided, groups=groups, errors=errors, row_errors=row_errors,
                           values=values, copy_amount=to_str, receipt_max_kib=receipts.MAX_BYTES // 1024,
                           status_label=lambda s: labels.WITHDRAWAL_STATUS.get(s, s),
                           request_kind_label=lambda k: labels.REQUEST_KIND.get(k, k))

    # -- the merchant cancels its own new request ------------------------------------------------
    def may_cancel(self, withdrawal):
        """The cancel button: merchant owners, on their own requests that are still new."""
        return current_role() == "merchant_owner" and service.may_cancel(withdrawal)

    @expose("/cancel/", methods=("POST",))
    def cancel_view(self):
        # The CSRF token is checked by the app's CSRFProtect before this runs.
        if current_role() != "merchant_owner":
            abort(403)
        withdrawal = self.get_one(request.form.get("id"))  # another merchant's: 404
        try:
            service.cancel(withdrawal, actor=current_user, merchant=current_user.merchant_id,
                           ip=request.remote_addr or "")
        except service.WithdrawalError as exc:
            flash(exc.message, "error")
        else:
            flash(_("Withdrawal request %(id)s cancelled; the amount is available again.",
                    id=withdrawal.withdrawal_id), "success")
        return redirect(self.get_url(".details_view", id=withdrawal.id))

    # -- the payout receipt ------------------------------------------------------------------------
    @expose("/receipt/")
    def receipt_view(self):
        self._guard("details")
        withdrawal = self.get_one(request.args.get("id"))  # scoped: the merchant's users and operators
        receipt = service.receipt_of(withdrawal)
        if receipt is None:
            abort(404)
        content_type, data = receipt
        return private_upload_response(data, content_type, service.receipt_filename(withdrawal, content_type))

    # -- bulk approval from a CSV file (operators) ---------------------------------------------
    @expose("/approve-csv/", methods=("GET", "POST"))
    def approve_csv_view(self):
        if not is_operator():
            abort(403)
        context = {"faults": None, "report": None, "filename": "",
                   "required": service.CSV_REQUIRED_COLUMNS, "optional": service.CSV_OPTIONAL_COLUMNS,
                   "max_rows": service.CSV_MAX_ROWS, "max_kib": service.CSV_MAX_BYTES // 1024}
        status = 200
        if request.method == "POST":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                context["faults"] = [(0, _("Choose a CSV file."))]
                return self.render("admin/withdrawals_approve_csv.html", **context), 400
            context["filename"] = upload.filename
            try:
                report = service.approve_from_csv(upload.read(service.CSV_MAX_BYTES + 1), current_user,
                                                  ip=request.remote_addr or "")
            except service.CsvFileError as exc:
                context["faults"] = exc.faults
                status = 400
            else:
                context["report"] = report
                context["counts"] = {outcome: sum(1 for r in report if r["outcome"] == outcome)
                                     for outcome in ("approved", "first_approval", "refused")}
        return self.render("admin/withdrawals_approve_csv.html", **context), status

    def may_create(self):
        return self._may("create")

    def is_operator_view(self):
        return is_operator()

    def may_decide(self, withdrawal):
        """The details page's Approve / Reject buttons: operators, on a request still to decide."""
        return is_operator() and service.awaiting_decision(withdrawal)

    def cancel_button(self, withdrawal):
        return cancel_form(self, withdrawal)

    def payout_fields(self, withdrawal):
        return payout_fields(withdrawal)

    def approval_note(self, withdrawal):
        """Operators, on a request still to decide: how many approvals it needs and has."""
        if not is_operator() or not service.awaiting_decision(withdrawal):
            return None
        required = service.approvals_required(withdrawal)
        if required == 1:
            return None
        stage = service.approval_stage(withdrawal, current_user)
        note = _("%(given)d of %(required)d approvals", given=service.approvals_given(withdrawal), required=required)
        if stage == "own_first":
            note += " · " + _("you gave the first: another operator must give the second")
        elif stage == "first":
            note += " · " + _("above the merchant's threshold: two operators must approve it")
        return note

    def balance_summary(self):
        """The merchant user's balances for the list page (None for operators: many merchants)."""
        if is_operator() or current_user.merchant_id is None:
            return None
        return dict(balances(current_user.merchant_id))

    # -- add withdrawal request ---------------------------------------------------------------------
    def _merchant_choices(self):
        if is_operator():
            return list(Merchant.select().where(Merchant.active == True).order_by(Merchant.name))  # noqa: E712
        return [current_user.merchant]

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        self._guard("create")
        source = request.form if request.method == "POST" else request.args
        merchants = self._merchant_choices()
        merchant = None
        if is_operator():
            merchant_id = clean_pk(Merchant.id, source.get("merchant"))
            merchant = next((m for m in merchants if m.id == merchant_id), None)
        else:
            merchant = current_user.merchant
            if not merchant.active:
                abort(403)
        systems = list(PaymentSystem.select().where(PaymentSystem.active == True)  # noqa: E712
                       .order_by(PaymentSystem.name))
        ps_id = clean_pk(PaymentSystem.id, source.get("payment_system"))
        payment_system = next((ps for ps in systems if ps.id == ps_id), None)
        context = {"merchants": merchants, "merchant": merchant, "systems": systems,
                   "payment_system": payment_system, "errors": {}, "values": {}, "balance": None,
                   "return_url": self.get_url(".index_view")}
        if merchant is None or payment_system is None:
            if request.method == "POST":
                abort(400)
            return self.render("admin/withdrawals_choose.html", **context)
        context["balance"] = available(merchant, payment_system.currency)
        context["amount_example"] = amount_example()
        context["form_fields"], context["comment_field"] = form_fields(payment_system)
        if request.method == "POST":
            inputs = context["form_fields"] + [context["comment_field"]]
            typed = {item.input: request.form.get(item.input, "") for item in inputs}
            # The schema's fields; its "comment", when it lists one, is the request's comment too.
            fields = {item.name: typed[item.input] for item in inputs if item.input.startswith("fields.")}
            values = {"amount": request.form.get("amount", ""), "label": request.form.get("label", ""),
                      "withdrawal_id": request.form.get("withdrawal_id", ""), "typed": typed, "fields": fields}
            context["values"] = values
            # Typed as people write amounts in their language ("1 250,50"); the service
            # checks the rest (and refuses an amount left out, with every other fault).
            try:
                amount, amount_error = parse_typed_amount(values["amount"], field=_("Amount"), required=True), None
            except AmountError as exc:
                amount, amount_error = None, exc.message
            try:
                withdrawal, _created = service.create_withdrawal(
                    merchant, payment_system, amount, payment_system.currency, label=values["label"],
                    fields=fields, comment=typed[context["comment_field"].input],
                    withdrawal_id=values["withdrawal_id"].strip() or None, kind="manual", actor=current_user,
                    ip=request.remote_addr or "", replay=False)
            except service.WithdrawalError as exc:
                context["errors"] = {d["field"]: d["message"] for d in exc.details}
                if not exc.details:
                    context["errors"]["_"] = exc.message
                if amount_error:
                    context["errors"]["amount"] = amount_error
                elif isinstance(exc, service.InsufficientBalance):
                    context["errors"]["amount"] = _("Insufficient balance: %(available)s available.",
                                                    available=money_text(exc.available, exc.currency))
                context["balance"] = available(merchant, payment_system.currency)
                return self.render("admin/withdrawals_form.html", **context), 200
            flash(_("Withdrawal request %(id)s created.", id=withdrawal.withdrawal_id), "success")
            return redirect(self.get_url(".index_view"))
        return self.render("admin/withdrawals_form.html", **context)


class WithdrawalSchemaField(TextAreaField):
    """A payment system's withdrawal field schema, edited as JSON by operators.

    The value must be a list of ``{"name", "label", "required", "pattern"}`` whose
    names come from the standard field set and whose patterns compile
    (``services.withdrawals.validate_schema``); anything else is a field error.
    """

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("description", _l(
            'A JSON list of {"name", "label", "required", "pattern"}; names from the standard set: %(names)s.',
            names=", ".join(STANDARD_WITHDRAWAL_FIELDS)))
        kwargs.setdefault("render_kw", {"rows": 14, "data-monospace": ""})
        super().__init__(label, validators, **kwargs)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return json.dumps(self.data or [], indent=2, ensure_ascii=False)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = (valuelist[0] or "").strip() or "[]"
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            self.data = None
            raise ValueError(_("is not valid JSON: %(error)s", error=str(exc))) from None
        try:
            self.data = service.validate_schema(parsed)
        except service.ValidationFailed as exc:
            self.data = None
            raise ValueError("; ".join(f"{d['field']}: {d['message']}" for d in exc.details) or exc.message) from None
