"""Risk → Appeals (SPEC §12): visitors' "I paid, but it is not credited".

* **List** (``/admin/appeals/``), newest first, 50 a page: operators see every
  merchant's, filtered by status (``?status=open`` by default; ``matched``,
  ``rejected``, ``all``) and ``?merchant=<id>``; merchant users (owners and staff) see
  their own merchant's appeals only, read-only, every status by default.
* **Details** (``/admin/appeals/details/?id=``): every fact the visitor stated, the
  receipt picture, and the outcome (the matched transaction, or the rejection's
  reason). Operators, while the appeal is open, search the merchant's reported
  payments (by number, amount, sender, time; nothing typed: the appeal's own facts,
  ``services.appeals.candidates``) and **Match** one (it is activated for the appeal's
  label: ledger, postback, audit) or **Reject** the appeal with a reason the visitor
  reads. Both go through ``services.appeals``, which refuses a decision that does not
  hold (resolved already, another merchant's payment, credited to another visitor…):
  the refusal is flashed and nothing changes.
* **Receipt** (``/admin/appeals/receipt/?id=``): the stored, re-encoded picture, as a
  sandboxed download nothing can run in.

A merchant user reaches only their own merchant's appeals: any other id is a 404,
on every page. Who may use which page: ``backoffice.roles`` (``appeals``).
"""
from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from peewee import JOIN
from wtforms import DateTimeLocalField, HiddenField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from .. import labels
from ..i18n import money_text, viewer_timezone_name
from ..models import Appeal, Merchant, PaymentSystem, Transaction, User
from ..security import private_upload_response
from ..services import activation, counting, receipts
from ..services import appeals as service
from . import badges
from .amounts import AmountField, amount_input_value
from .base import MAX_PAGE, SecureBaseView, clean_pk, is_operator, scope_query
from .timezones import local_to_utc
from .zone_names import zone_label

PAGE_SIZE = 50
MERCHANT_LIMIT = 1000
ALL = "all"
STATUS_LABELS = {service.OPEN: _l("Being checked"), service.MATCHED: _l("Matched"), service.REJECTED: _l("Rejected")}
# The badge of each status: the tones every list uses (``badges``, issue 22).
STATUS_BADGES = {status: f"bo-badge bo-badge-{tone}" for status, tone in badges.APPEAL_STATUS.items()}
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]

Resolver = User.alias("resolver")


class SearchForm(FlaskForm):
    """The candidates' search (a GET form: no CSRF token). Dates in the viewer's zone."""

    class Meta:
        csrf = False

    number = StringField(_l("Transaction number"), validators=[Optional(), Length(max=100)])
    amount = AmountField(_l("Amount"), validators=[Optional()], allow_zero=False)  # typed in the viewer's language
    sender = StringField(_l("Sender"), validators=[Optional(), Length(max=255)])
    start = DateTimeLocalField(_l("Reported from"), name="from", format=DATETIME_FORMATS, validators=[Optional()])
    end = DateTimeLocalField(_l("Reported before"), name="to", format=DATETIME_FORMATS, validators=[Optional()])


class MatchForm(FlaskForm):
    appeal_id = HiddenField()
    transaction_id = HiddenField()


class RejectForm(FlaskForm):
    appeal_id = HiddenField()
    reason = TextAreaField(_l("Reason (the visitor reads it)"))  # the service checks it (its words)


def _page_number():
    raw = request.args.get("page", "")
    try:
        page = int(raw, 10)
    except ValueError:
        return 1
    return page if 1 <= page <= MAX_PAGE else 1


class AppealsView(SecureBaseView):
    """The appeals queue and list (see the module's doc)."""

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def _query():
        """Appeals in the viewer's scope, with merchant, payment system and the operator
        who resolved each joined in (one query for a whole page)."""
        query = (Appeal.select(Appeal, Merchant.id, Merchant.name, PaymentSystem.id, PaymentSystem.name,
                               Resolver.id, Resolver.login, Resolver.role)
                 .join(Merchant, on=(Appeal.merchant == Merchant.id), attr="merchant")
                 .switch(Appeal)
                 .join(PaymentSystem, on=(Appeal.payment_system == PaymentSystem.id), attr="payment_system")
                 .switch(Appeal)
                 .join(Resolver, JOIN.LEFT_OUTER, on=(Appeal.resolved_by == Resolver.id), attr="resolver"))
        return scope_query(query, Appeal)

    def _get_appeal(self, raw):
        """The appeal of id ``raw`` in the viewer's scope; 404 otherwise."""
        appeal_id = clean_pk(Appeal.id, raw)
        if appeal_id is None:
            abort(404)
        appeal = self._query().where(Appeal.id == appeal_id).first()
        if appeal is None:
            abort(404)
        return appeal

    def _merchant_filter(self):
        """``?merchant=<id>`` (operators only: a merchant user's list is their merchant's)."""
        raw = request.args.get("merchant", "")
        if raw == "" or not is_operator():
            return None
        merchant_id = clean_pk(Merchant.id, raw)
        if merchant_id is None:
            abort(404)
        return merchant_id

    def _status_filter(self):
        default = service.OPEN if is_operator() else ALL
        status = request.args.get("status", default)
        return status if status in service.STATUSES or status == ALL else default

    def _who(self, appeal):
        return labels.actor_label(getattr(appeal, "resolver", None) if appeal.resolved_by_id else None,
                                  is_operator())

    def _common(self):
        return dict(amount_input=amount_input_value, status_label=lambda status: STATUS_LABELS.get(status, status),
                    status_badge=lambda status: STATUS_BADGES.get(status, "badge-secondary"), who=self._who,
                    operator=is_operator(), timezone_name=zone_label(viewer_timezone_name()))

    @expose("/")
    def index(self):
        status, merchant_id, page = self._status_filter(), self._merchant_filter(), _page_number()
        query = self._query()
        if status != ALL:
            query = query.where(Appeal.status == status)
        if merchant_id is not None:
            query = query.where(Appeal.merchant == merchant_id)
        count = counting.count_rows(query)  # the pager says how many (issue 22)
        rows = list(query.order_by(Appeal.created_at.desc(), Appeal.id.desc())
                    .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
        has_next = len(rows) > PAGE_SIZE
        merchants = []
        if is_operator():
            merchants = list(Merchant.select(Merchant.id, Merchant.name).order_by(Merchant.name).limit(MERCHANT_LIMIT))
        statuses = [(service.OPEN, STATUS_LABELS[service.OPEN]), (service.MATCHED, STATUS_LABELS[service.MATCHED]),
                    (service.REJECTED, STATUS_LABELS[service.REJECTED]), (ALL, _("All statuses"))]
        args = {"status": status}
        if merchant_id is not None:
            args["merchant"] = merchant_id
        return self.render("admin/appeals.html", appeals=rows[:PAGE_SIZE], status=status, statuses=statuses,
                           merchant_id=merchant_id, merchant_choices=merchants, page=page, has_next=has_next,
                           page_args=args, row_count=count, **self._common())

    @expose("/details/")
    def details_view(self):
        appeal = self._get_appeal(request.args.get("id"))
        return self._details(appeal)

    def _details(self, appeal, reject_form=None, status=200):
        matched = None
        if appeal.transaction_id is not None:
            matched = Transaction.get_or_none(Transaction.id == appeal.transaction_id)
        context = dict(appeal=appeal, matched=matched, deciding=False, **self._common())
        if appeal.status == service.OPEN and self.may("match"):
            search = SearchForm(formdata=request.args)
            candidates, searched = self._candidates(appeal, search)
            context.update(
                deciding=True, search=search, candidates=candidates, searched=searched,
                match_form=MatchForm(formdata=None, appeal_id=appeal.id),
                reject_form=reject_form or RejectForm(formdata=None, appeal_id=appeal.id),
                may_match=lambda tx: self._may_match(appeal, tx), why_not=lambda tx: self._why_not(appeal, tx),
                tx_status=lambda tx: labels.TRANSACTION_STATUS.get(tx.status, tx.status),
                max_reason=service.MAX_REASON, search_limit=service.SEARCH_LIMIT)
        return self.render("admin/appeals_details.html", **context), status

    @staticmethod
    def _candidates(appeal, search):
        """The payments the operator may match the appeal to: what the search form asks,
        or (nothing typed) the appeal's own facts. ``(rows, searched)``; a criterion the
        form refuses shows its error and lists nothing."""
        if not search.validate():
            return [], True
        amount = search.amount.data
        start = local_to_utc(search.start.data) if search.start.data else None
        end = local_to_utc(search.end.data) if search.end.data else None
        number = (search.number.data or "").strip() or None
        sender = (search.sender.data or "").strip() or None
        searched = any(v is not None for v in (number, amount, sender, start, end))
        return service.candidates(appeal, number=number, amount=amount, sender=sender, start=start, end=end), searched

    @staticmethod
    def _may_match(appeal, tx):
        """A row the appeal may be matched to: still activatable, or credited to the
        appeal's own visitor already."""
        return activation.may_activate(tx) or (tx.status == "activated" and tx.label == appeal.label)

    @staticmethod
    def _why_not(appeal, tx):
        if tx.originality == "fraud":
            return _("Marked as fraud")
        if tx.status == "activated":
            return _("Credited to another visitor")
        return _("Cannot be credited")

    @expose("/receipt/")
    def receipt_view(self):
        appeal = self._get_appeal(request.args.get("id"))  # scoped: the merchant's users and operators
        receipt = service.receipt_of(appeal.id) if appeal.has_receipt else None
        if receipt is None:
            abort(404)
        content_type = receipt.content_type
        filename = f"appeal-{appeal.public_id}.{receipts.EXTENSIONS.get(content_type, 'bin')}"
        return private_upload_response(bytes(receipt.data), content_type, filename)

    # -- the decisions (operators) ----------------------------------------------------------------
    def _posted_appeal(self, form):
        """The posted appeal (its CSRF token checked first: 400 without one; 404 for no such appeal)."""
        if not form.validate_on_submit():
            abort(400)
        return self._get_appeal(form.appeal_id.data)

    def _back(self, appeal):
        return redirect(url_for(".details_view", id=appeal.id))

    @expose("/match/", methods=("POST",))
    def match_view(self):
        form = MatchForm()
        appeal = self._posted_appeal(form)
        transaction_id = clean_pk(Transaction.id, form.transaction_id.data)
        if transaction_id is None:
            flash(_("Appeal %(ref)s was not matched: choose a payment to match it to.", ref=appeal.public_id), "error")
            return self._back(appeal)
        try:
            outcome = service.match(appeal.id, transaction_id, current_user, ip=request.remote_addr or "")
        except service.AppealError as exc:
            flash(_("Appeal %(ref)s was not matched: %(why)s", ref=appeal.public_id, why=exc.message), "error")
            return self._back(appeal)
        flash(self._matched_sentence(appeal, outcome), "success")
        return self._back(appeal)

    @staticmethod
    def _matched_sentence(appeal, outcome):
        if outcome.status == activation.ACTIVATED:
            return _("Appeal %(ref)s matched: the deposit is credited to %(label)s.", ref=appeal.public_id,
                     label=appeal.label)
        if outcome.status == activation.STOCKPILING:
            return _("Appeal %(ref)s matched: the payment is added to the stockpiling of %(label)s, "
                     "%(accumulated)s of the %(required)s minimum deposit so far.",
                     ref=appeal.public_id, label=appeal.label, accumulated=money_text(outcome.accumulated),
                     required=money_text(outcome.required, outcome.currency))
        return _("Appeal %(ref)s matched: the payment was credited to %(label)s already.", ref=appeal.public_id,
                 label=appeal.label)

    @expose("/reject/", methods=("POST",))
    def reject_view(self):
        form = RejectForm()
        appeal = self._posted_appeal(form)
        try:
            service.reject(appeal.id, form.reason.data, current_user, ip=request.remote_addr or "")
        except service.AppealError as exc:
            flash(_("Appeal %(ref)s was not rejected: %(why)s", ref=appeal.public_id, why=exc.message), "error")
            if exc.field == "reason" and appeal.status == service.OPEN:
                form.reason.errors = [exc.message]
                return self._details(appeal, reject_form=form, status=422)
            return self._back(appeal)
        flash(_("Appeal %(ref)s rejected: the visitor sees the reason.", ref=appeal.public_id), "success")
        return self._back(appeal)


__all__ = ["AppealsView"]
