"""Risk → Matching and risk settings (SPEC §11; operators only).

* **The default policy** (``/admin/risk/``): every matching rule and risk limit of
  ``services.matching`` (``POLICY_FIELDS``), each with its plain explanation beside it
  (``EXPLANATIONS``); merchants without a policy of their own follow it. Below it, the
  merchants, each marked "own policy" or "follows the default", linking to its page.
* **A merchant's policy** (``/admin/risk/?merchant=<id>``): whether the merchant
  follows the default; a form to give it a policy of its own (every field: a merchant
  with its own policy follows none of the default's), the default's value beside each
  field, and **Follow the default** (its own policy is deleted).
* **Blocklists** (``/admin/risk/blocks/``): labels, sender wallets and visitor
  networks refused for every merchant or one; **Add** and **Remove**.

Every change goes through ``services.matching`` / ``services.risk``, which check and
audit it; a refused value is shown beside its field and the form keeps what was typed.
"""
from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from peewee import BooleanField as BooleanColumn
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, Optional

from .. import labels
from ..i18n import money_text, viewer_timezone_name
from ..models import RISK_BLOCK_KINDS, MatchingPolicy, Merchant, MoneyField, RiskBlock, User
from ..services import matching
from ..services import risk as risk_service
from ..services.checks import SettingsError
from .amounts import AmountField
from .base import SecureBaseView, clean_pk, form_errors
from .zone_names import zone_label

MERCHANT_LIMIT = 1000  # merchants listed (and offered in the blocklist's merchant choice)
BLOCKS_PAGE = 100

BLOCK_KIND_LABELS = {
    "label": _l("Label"),
    "sender": _l("Sender wallet"),
    "network": _l("Visitor network"),
}
BLOCK_VALUE_HINTS = {
    "label": _l("The visitor's label, as the shop passes it to the plugin."),
    "sender": _l("The wallet the money came from, as the payment system reports it."),
    "network": _l("An address or a network, such as 203.0.113.0/24; an address stands for its /24 (IPv4) or /64 "
                  "(IPv6)."),
}


def is_flag(name):
    """Is the policy field an on/off rule (a checkbox), rather than a value?"""
    return isinstance(MatchingPolicy._meta.fields.get(name), BooleanColumn)


def policy_label(name):
    """What a policy field is called on the screen (the service's name for it)."""
    return matching.LABELS.get(name, name.replace("_", " ").capitalize())


def is_money(name):
    """Is the policy field an amount (typed and shown in the viewer's language)?"""
    return isinstance(MatchingPolicy._meta.fields.get(name), MoneyField)


def _policy_form_class():
    attributes = {}
    for name in matching.POLICY_FIELDS:
        if is_flag(name):
            attributes[name] = BooleanField(policy_label(name))
        elif is_money(name):
            # Typed as people write amounts ("1 250,50"); empty = off; the rest is the service's.
            attributes[name] = AmountField(policy_label(name), validators=[Optional()])
        else:
            # Free text: the rules (a number, money, empty = off) are the service's.
            attributes[name] = StringField(policy_label(name), validators=[Length(max=32)])
    return type("PolicyForm", (FlaskForm,), attributes)


PolicyForm = _policy_form_class()


def shown(value):
    """A policy value as the form shows it: an amount as is (its field writes it in the
    viewer's language), an empty limit as ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


def shown_text(name, value):
    """A policy value as read-only text (the default's, beside a merchant's field): an
    amount in the viewer's language."""
    if is_flag(name):
        return _("on") if value else _("off")
    if value is None:
        return _("off")
    return money_text(value) if is_money(name) else str(value)


def policy_data(policy):
    return {name: shown(getattr(policy, name, None)) for name in matching.POLICY_FIELDS}


def policy_values(form):
    """The form as ``set_policy`` takes it: a ticked box is "y", an amount a Decimal, an
    empty limit "" (off), the rest strings."""
    values = {}
    for name in matching.POLICY_FIELDS:
        data = form[name].data
        if is_flag(name):
            values[name] = "y" if data else ""
        elif is_money(name):
            values[name] = "" if data is None else data
        else:
            values[name] = (data or "").strip()
    return values


class ButtonForm(FlaskForm):
    pass


class BlockForm(FlaskForm):
    kind = SelectField(_l("Kind"))
    value = StringField(_l("Value"), validators=[Length(max=255)])
    merchant = SelectField(_l("Merchant"))
    note = StringField(_l("Note (optional)"), validators=[Length(max=500)])


def merchant_choices():
    return list(Merchant.select(Merchant.id, Merchant.name, Merchant.active).order_by(Merchant.name)
                .limit(MERCHANT_LIMIT))


def own_policy_merchants():
    """The ids of the merchants with a policy of their own."""
    return {row[0] for row in MatchingPolicy.select(MatchingPolicy.merchant)
            .where(MatchingPolicy.merchant.is_null(False)).tuples()}


class RiskView(SecureBaseView):
    """Matching and risk settings (see the module's doc)."""

    # -- the pages ---------------------------------------------------------------------------
    def _merchant(self, required=False):
        """The merchant ``?merchant=`` names (None: the default policy); 404 for an unknown one."""
        raw = request.args.get("merchant", "")
        if raw == "" and not required:
            return None
        merchant_id = clean_pk(Merchant.id, raw)
        merchant = Merchant.get_or_none(Merchant.id == merchant_id) if merchant_id is not None else None
        if merchant is None:
            abort(404)
        return merchant

    def _form(self, merchant, formdata=None):
        policy = matching.policy_for(merchant.id) if merchant is not None else matching.default_policy()
        return PolicyForm(formdata=formdata, data=policy_data(policy)), policy

    def _render(self, merchant, form=None, status=200):
        fields_form, policy = self._form(merchant)
        form = form or fields_form
        context = dict(form=form, policy=policy, fields=list(matching.POLICY_FIELDS),
                       explanations=matching.EXPLANATIONS, is_flag=is_flag, button_form=ButtonForm(formdata=None))
        if merchant is None:
            merchants = merchant_choices()
            return self.render("admin/risk_policy.html", merchants=merchants, own=own_policy_merchants(),
                               merchants_cut=len(merchants) >= MERCHANT_LIMIT, **context), status
        default = matching.default_policy()
        return self.render("admin/risk_merchant.html", merchant=merchant,
                           default_text={name: shown_text(name, getattr(default, name, None))
                                         for name in matching.POLICY_FIELDS}, **context), status

    @expose("/")
    def index(self):
        return self._render(self._merchant())

    @expose("/policy/", methods=("POST",))
    def save_policy(self):
        merchant = self._merchant()
        form = PolicyForm()
        if not form.validate_on_submit():
            # Every bad field at once: an amount the form could not read, and what the
            # service's checks say of the other fields (nothing is saved).
            try:
                matching.clean({name: value for name, value in policy_values(form).items() if not form[name].errors})
            except SettingsError as exc:
                form_errors(form, exc)
            return self._render(merchant, form, status=400)
        try:
            matching.set_policy(merchant.id if merchant is not None else None, policy_values(form),
                                actor=current_user.id, ip=request.remote_addr or "")
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render(merchant, form, status=400)
        if merchant is None:
            flash(_("The default policy is saved. Merchants without a policy of their own follow it."), "success")
            return redirect(url_for(".index"))
        flash(_("%(merchant)s now has a policy of its own.", merchant=merchant.name), "success")
        return redirect(url_for(".index", merchant=merchant.id))

    @expose("/follow-default/", methods=("POST",))
    def follow_default(self):
        merchant = self._merchant(required=True)
        if not ButtonForm().validate_on_submit():
            abort(400)
        matching.follow_default(merchant.id, actor=current_user.id, ip=request.remote_addr or "")
        flash(_("%(merchant)s follows the default policy again.", merchant=merchant.name), "success")
        return redirect(url_for(".index", merchant=merchant.id))

    # -- blocklists --------------------------------------------------------------------------
    def _block_form(self, formdata=None, merchants=None):
        form = BlockForm(formdata=formdata)
        form.kind.choices = [(kind, BLOCK_KIND_LABELS.get(kind, kind)) for kind in RISK_BLOCK_KINDS]
        form.merchant.choices = [("", _("All merchants"))] + [(str(m.id), m.name) for m in merchants]
        return form

    def _render_blocks(self, form=None, status=200):
        merchants = merchant_choices()
        merchant = self._merchant()  # ?merchant=: the entries that apply to it (its own and the global ones)
        if form is None:
            form = self._block_form(merchants=merchants)
            form.merchant.data = str(merchant.id) if merchant is not None else ""
        page = clean_pk(RiskBlock.id, request.args.get("page", "0"))
        page = page if page is not None and 0 <= page <= 10 ** 6 else 0
        query = risk_service.blocks(merchant.id if merchant is not None else None)
        blocks = list(query.limit(BLOCKS_PAGE + 1).offset(page * BLOCKS_PAGE))
        more = len(blocks) > BLOCKS_PAGE
        blocks = blocks[:BLOCKS_PAGE]
        merchant_names = {m.id: m.name for m in merchants}
        missing = {b.merchant_id for b in blocks if b.merchant_id is not None} - set(merchant_names)
        if missing:
            merchant_names.update({m.id: m.name for m in Merchant.select(Merchant.id, Merchant.name)
                                   .where(Merchant.id.in_(missing))})
        user_ids = {b.created_by_id for b in blocks if b.created_by_id is not None}
        users = {u.id: u for u in User.select().where(User.id.in_(user_ids))} if user_ids else {}
        return self.render(
            "admin/risk_blocks.html", form=form, blocks=blocks, page=page, more=more, merchant_names=merchant_names,
            merchant=merchant, merchant_arg={"merchant": merchant.id} if merchant is not None else {},
            who=lambda block: labels.actor_label(users.get(block.created_by_id), True),
            kind_label=lambda kind: BLOCK_KIND_LABELS.get(kind, kind), value_hints=BLOCK_VALUE_HINTS,
            button_form=ButtonForm(formdata=None), timezone_name=zone_label(viewer_timezone_name())), status

    def _back_to_blocks(self):
        merchant_id = clean_pk(Merchant.id, request.args.get("merchant", ""))
        return redirect(url_for(".blocks", **({"merchant": merchant_id} if merchant_id is not None else {})))

    @expose("/blocks/")
    def blocks(self):
        return self._render_blocks()

    @expose("/blocks/add/", methods=("POST",))
    def add_block(self):
        form = self._block_form(formdata=request.form, merchants=merchant_choices())
        if not form.validate_on_submit():
            return self._render_blocks(form, status=400)
        merchant_id = int(form.merchant.data) if form.merchant.data else None
        try:
            block = risk_service.add_block(form.kind.data, (form.value.data or "").strip(), merchant_id=merchant_id,
                                           note=(form.note.data or "").strip(), actor=current_user.id,
                                           ip=request.remote_addr or "")
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render_blocks(form, status=400)
        flash(_("Added to the blocklist (%(kind)s): %(value)s.", kind=BLOCK_KIND_LABELS.get(block.kind, block.kind),
                value=block.value), "success")
        return self._back_to_blocks()

    @expose("/blocks/remove/", methods=("POST",))
    def remove_block(self):
        if not ButtonForm().validate_on_submit():
            abort(400)
        block_id = clean_pk(RiskBlock.id, request.form.get("id"))
        block = RiskBlock.get_or_none(RiskBlock.id == block_id) if block_id is not None else None
        if block is None:
            abort(404)
        risk_service.remove_block(block.id, actor=current_user.id, ip=request.remote_addr or "")
        flash(_("Removed from the blocklist (%(kind)s): %(value)s.",
                kind=BLOCK_KIND_LABELS.get(block.kind, block.kind), value=block.value), "success")
        return self._back_to_blocks()


__all__ = ["RiskView"]
