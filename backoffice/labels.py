"""What people see for each stored status value (SPEC §3, the manual's wording)."""
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

TRANSACTION_POSTBACK_STATUS = {
    "not_activated": _l("Stockpiling not found"),
    "stockpiling": _l("Stockpiling in progress"),
    "review": _l("Held for review"),
    "refused": _l("Refused in review"),
    "pending": _l("Sending"),
    "sent": _l("Sent"),
    "error": _l("Error sending"),
}
TRANSACTION_STATUS = {"new": _l("New"), "activated": _l("Activated")}
DIRECTION = {"incoming": _l("Incoming"), "outgoing": _l("Outgoing")}
TRANSACTION_TYPE = {"auto": _l("Auto"), "manual": _l("Manual")}
ORIGINALITY = {"normal": _l("Normal"), "fraud": _l("Fraud")}
WITHDRAWAL_STATUS = {"new": _l("New"), "approved": _l("Approved"), "rejected": _l("Rejected"),
                     "cancelled": _l("Cancelled")}
WITHDRAWAL_POSTBACK_STATUS = {"pending": _l("Sending"), "received": _l("Received"), "error": _l("Error sending")}
REQUEST_KIND = {"manual": _l("Manual"), "api": _l("API")}
POSTBACK_STATUS = {"pending": _l("Pending"), "sent": _l("Sent"), "error": _l("Error")}
# The plugin's theme and what it does after a payment (Settings, the merchants' details).
THEME = {"dark": _l("Dark"), "light": _l("Light"), "white-green": _l("White-green"), "own": _l("Own")}
AFTER_PAYMENT = {"message": _l("Show a message"), "redirect": _l("Redirect to a URL"),
                 "close": _l("Close the plugin")}
# A postback's event type (issue 22, point 5: the timeline names it in words, not its code).
EVENT_TYPE = {
    "deposit.completed": _l("Deposit completed"),
    "deposit.reversed": _l("Deposit reversed"),
    "withdrawal.approved": _l("Withdrawal approved"),
    "withdrawal.rejected": _l("Withdrawal rejected"),
    "withdrawal.cancelled": _l("Withdrawal cancelled"),
    "test": _l("Test"),
}
# A visitor's activation of a payment not reported yet (Pending activations).
PENDING_STATUS = {"waiting": _l("Waiting"), "activated": _l("Activated"), "expired": _l("Expired")}
ACTIVATION_OUTCOME = {
    "activated": _l("activated, the deposit is complete"),
    "stockpiling": _l("activated, the visitor's stockpiling is still under the minimum deposit"),
    "pending": _l("not reported yet, it will be activated when it arrives"),
    "not_found": _l("no such transaction"),
    "already_activated": _l("this transaction was activated before"),
    "rejected": _l("refused: fraud, outgoing, or another merchant's transaction"),
}
# The activation attempt log (SPEC §11): what the visitor was told, and why.
ATTEMPT_OUTCOME = {
    "activated": _l("Activated"),
    "stockpiling": _l("Stockpiling"),
    "pending": _l("Pending"),
    "not_found": _l("Not found"),
    "already_activated": _l("Already activated"),
    "rejected": _l("Refused"),
    "error": _l("Error"),
}
ATTEMPT_REASON = {
    "activated": _l("Activated"),
    "stockpiling": _l("Added to the visitor's stockpiling"),
    "pending": _l("Not reported yet, waiting for it"),
    "not_found": _l("No such transaction"),
    "already_activated": _l("Activated before"),
    "sender_mismatch": _l("Sender's digits did not match"),
    "amount_mismatch": _l("Amount did not match"),
    "stale": _l("Payment older than the time window"),
    "blocked": _l("Blocked by a risk rule"),
    "review": _l("Held for review"),
    "rejected": _l("Refused: a fraud or outgoing transaction"),
    "rate_limited": _l("Too many attempts"),
    "bad_signature": _l("Bad plugin signature"),
}
ROLE = {"operator": _l("Operator"), "merchant_owner": _l("Merchant owner"), "merchant_staff": _l("Merchant staff")}


class Code(str):
    """A machine code people are shown as code (``<code>`` in a page; itself in text and
    comparisons): an activation attempt's reason code beside its words."""

    def __html__(self):
        return Markup("<code>%s</code>") % str(self)


def choices(mapping):
    """(value, label) pairs for a select field or a filter."""
    return [(value, label) for value, label in mapping.items()]


def formatter(mapping, attribute):
    """A Flask-Admin column formatter showing the label of a stored value."""

    def _format(view, context, model, name):
        value = getattr(model, attribute)
        return mapping.get(value, value) if value is not None else ""

    return _format


def actor_label(user, viewer_is_operator):
    """Who did something, as the viewer may see it: operators see every login; merchant
    users see "Operator" for platform staff (never their login) and their own
    colleagues' logins. ``user`` is a User (or None: nobody, e.g. the API or a job)."""
    if user is None:
        return ""
    if user.role == "operator" and not viewer_is_operator:
        return str(ROLE["operator"])
    return user.login


def actor_address(user, address, viewer_is_operator):
    """The address an action came from: hidden from merchant users when an operator acted."""
    if user is not None and user.role == "operator" and not viewer_is_operator:
        return ""
    return address or ""
