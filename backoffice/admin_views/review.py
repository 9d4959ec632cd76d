"""Risk → Review queue (SPEC §11; operators only).

* **Held** (``/admin/review/``): the deposits a review threshold held
  (``services.review.held()``), oldest first: merchant, payment system, label, amount,
  the rule that held it, when, and a link to the transaction's details. Tick any number
  and **Approve** (the deposit completes: ledger entry, postback) or **Refuse** (with
  an optional note; the transaction is refused). ``?merchant=<id>`` narrows the queue.
* **Decided** (``/admin/review/decided/``): the latest decisions, who made them and when.

Every decision goes through ``services.review``, which audits each one and skips a
review decided already (two operators deciding at once: one wins; the page says how
many were decided).
"""
from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from .. import labels
from ..i18n import viewer_timezone_name
from ..models import DepositReview, Merchant, User
from ..services import counting
from ..services import review as service
from . import badges
from .base import SecureBaseView, clean_pk
from .zone_names import zone_label

QUEUE_LIMIT = 500  # held deposits shown at once (the oldest)
DECIDED_LIMIT = 100
MERCHANT_LIMIT = 1000

RULE_LABELS = {
    "above": _l("above the review threshold"),
    "first_above": _l("the label's first deposit above the threshold"),
}
STATUS_LABELS = {"held": _l("Held"), "approved": _l("Approved, credited"), "refused": _l("Refused, not credited")}


class DecisionForm(FlaskForm):
    note = StringField(_l("Note (optional, with Refuse)"), validators=[Length(max=service.MAX_NOTE)])


class ReviewView(SecureBaseView):
    """The review queue (see the module's doc)."""

    def _merchant_id(self):
        raw = request.args.get("merchant", "")
        if raw == "":
            return None
        merchant_id = clean_pk(Merchant.id, raw)
        if merchant_id is None:
            abort(404)
        return merchant_id

    @staticmethod
    def _deciders(reviews):
        """The operators who decided the rows, fetched once (merchant and payment system
        come joined with the service's queries)."""
        ids = {r.decided_by_id for r in reviews if r.decided_by_id is not None}
        return {u.id: u for u in User.select().where(User.id.in_(ids))} if ids else {}

    def _render(self, template, reviews, **extra):
        return self.render(
            template, reviews=reviews, rule_label=lambda rule: RULE_LABELS.get(rule, rule),
            status_label=lambda status: STATUS_LABELS.get(status, status),
            status_badge=lambda status: badges.badge(status, STATUS_LABELS, badges.REVIEW_STATUS),
            who=lambda user: labels.actor_label(user, True), timezone_name=zone_label(viewer_timezone_name()),
            merchant_choices=list(Merchant.select(Merchant.id, Merchant.name).order_by(Merchant.name)
                                  .limit(MERCHANT_LIMIT)),
            users=self._deciders(reviews), **extra)

    @expose("/")
    def index(self):
        merchant_id = self._merchant_id()
        query = service.held(merchant_id)
        reviews = list(query.limit(QUEUE_LIMIT))
        count = counting.count_rows(query)  # the list says how many (issue 22)
        return self._render("admin/review.html", reviews, form=DecisionForm(formdata=None), total=count.value,
                            row_count=count,
                            max_note=service.MAX_NOTE, merchant_id=merchant_id, tab="held")

    @expose("/decided/")
    def decided(self):
        merchant_id = self._merchant_id()
        query = service.decided(DECIDED_LIMIT)
        if merchant_id is not None:
            query = query.where(DepositReview.merchant == merchant_id)
        reviews = list(query)
        return self._render("admin/review_decided.html", reviews, merchant_id=merchant_id, tab="decided",
                            limit=DECIDED_LIMIT)

    # -- the decisions -----------------------------------------------------------------------
    def _decision(self):
        """The ticked review ids and the form (its CSRF token checked); None when it is refused."""
        form = DecisionForm()
        if not form.validate_on_submit():
            for message in form.note.errors:
                flash(_("Note: %(message)s", message=message), "error")
            if not form.note.errors:
                abort(400)
            return None, form
        ids = sorted({v for v in (clean_pk(DepositReview.id, raw) for raw in request.form.getlist("rowid"))
                      if v is not None})
        if not ids:
            flash(_("Tick the deposits to decide first."), "error")
            return None, form
        return ids, form

    def _back(self):
        merchant_id = clean_pk(Merchant.id, request.args.get("merchant", ""))
        return redirect(url_for(".index", **({"merchant": merchant_id} if merchant_id is not None else {})))

    def _report(self, asked, done, message):
        if not done:
            flash(_("Nothing was decided: every ticked deposit was decided already."), "error")
            return
        flash(message, "success")
        if asked > done:
            flash(ngettext("%(num)d deposit was decided already and is left as it was.",
                           "%(num)d deposits were decided already and are left as they were.", asked - done),
                  "warning")

    @expose("/approve/", methods=("POST",))
    def approve(self):
        ids, _form = self._decision()
        if ids is None:
            return self._back()
        done = service.approve(ids, current_user.id, ip=request.remote_addr or "")
        self._report(len(ids), done, ngettext(
            "%(num)d deposit approved: it is complete, booked and its postback is on its way.",
            "%(num)d deposits approved: they are complete, booked and their postbacks are on their way.", done))
        return self._back()

    @expose("/refuse/", methods=("POST",))
    def refuse(self):
        ids, form = self._decision()
        if ids is None:
            return self._back()
        done = service.refuse(ids, current_user.id, ip=request.remote_addr or "", note=(form.note.data or "").strip())
        self._report(len(ids), done, ngettext("%(num)d deposit refused: nothing is credited.",
                                              "%(num)d deposits refused: nothing is credited.", done))
        return self._back()


__all__ = ["ReviewView"]
