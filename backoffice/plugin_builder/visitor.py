"""What every visitor call of the plugin API names, read and checked in one place: the
merchant (public key), the payment system, the transaction number, and who the visitor
is — a plugin session (``session``, SPEC §13) or the label with its order id and
signature (``POST /plugin/api/activate``, ``…/pending``, ``…/appeals``)."""
from flask_babel import gettext as _

from ..api.base import ApiError
from ..services import plugin_sessions
from ..services.activation import MerchantDisabled, settings_for_plugin
from .signing import signature_ok


class Visitor:
    """A plugin call's visitor fields; ``settings`` once :func:`resolve` found them."""

    def __init__(self, **values):
        self.settings = None
        self.__dict__.update(values)


def read(body):
    """The visitor fields of ``body`` (an ``api.validation.Body``; faults noted there)."""
    session = body.string("session", required=False, max_length=plugin_sessions.MAX_TOKEN_LENGTH)
    return Visitor(public_key=body.string("merchant", max_length=64),
                   code=body.string("payment_system", max_length=32),
                   number=body.string("transaction_number", max_length=100),
                   session=session,
                   label=body.string("label", required=session is None, max_length=255),
                   order_id=body.string("order_id", required=False, max_length=255),
                   signature=body.string("signature", required=False, max_length=128))


def resolve(visitor, on_bad_signature=None):
    """The merchant's settings for the payment system (403 for a disabled merchant), and
    the label's signature checked when the merchant signs labels or one is sent (403;
    ``on_bad_signature(settings)`` first, when given). Returns ``visitor``."""
    try:
        visitor.settings = settings_for_plugin(visitor.public_key, visitor.code)
    except MerchantDisabled:
        raise ApiError(403, "merchant_disabled", _("This merchant is disabled: deposits are not accepted.")) from None
    merchant = visitor.settings.merchant
    if visitor.session is not None:
        return _from_session(visitor, merchant)
    if (merchant.require_signed_labels or visitor.signature) and not signature_ok(
            merchant, visitor.label, visitor.order_id, visitor.signature):
        if on_bad_signature is not None:
            on_bad_signature(visitor.settings)
        raise ApiError(403, "bad_signature", _("The label signature is missing or wrong."))
    return visitor


def _from_session(visitor, merchant):
    """The label and order id of the visitor's session (403 ``session_expired`` /
    ``invalid_session``); a payment system the session does not offer is refused."""
    try:
        session = plugin_sessions.find(visitor.session, merchant)
    except plugin_sessions.SessionError as exc:
        raise ApiError(403, exc.code, exc.message) from None
    if session.payment_systems and visitor.code not in session.payment_systems:
        raise ApiError(400, "invalid_request", _("This payment system is not offered in this session."),
                       details=[{"field": "payment_system", "message": _("not offered in this session")}])
    visitor.label, visitor.order_id, visitor.signature = session.label, session.order_id, None
    visitor.plugin_session = session
    return visitor
