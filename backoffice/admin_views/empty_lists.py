"""What a list with no rows says (issue 22, point 7), instead of Flask-Admin's "There are
no items in the table.": what the list holds and how rows get there; or, when a filter
or a search is given, that nothing matches them. ``ScopedModelView.get_empty_list_message``
asks here for every list; ``tests/admin_views/test_empty_lists.py`` walks every list and
fails on one that has no sentence of its own."""
from flask import has_request_context, request
from flask_babel import lazy_gettext as _l

# By the view's endpoint.
EMPTY_LISTS = {
    "transactions": _l("No transactions yet. The payments reported to the wallets appear here."),
    "attempts": _l("No activation attempts yet. Every time a visitor asks to activate a payment, the attempt "
                   "appears here."),
    "withdrawals": _l("No withdrawal requests yet. The requests made here or through the API appear here."),
    "merchants": _l("No merchants yet."),
    "users": _l("No users yet."),
    "wallets": _l("No wallets yet. Add the payment systems' accounts that receive the visitors' payments."),
    "payment_systems": _l("No payment systems yet."),
    "merchant_payment_systems": _l("No merchant payment settings yet. A merchant takes a payment system once it "
                                   "has its settings here."),
    "connector_tokens": _l("No connector tokens yet. Issue one for each connector that reports payments."),
    "exchange_rates": _l("No exchange rates yet. Amounts in other currencies are converted with them."),
    "pending_activations": _l("No pending activations. A visitor's activation of a payment not reported yet "
                              "waits here."),
    "postbacks": _l("No postbacks yet. Every completed deposit and every decided withdrawal is sent to the "
                    "webhook endpoints, and each delivery appears here."),
    "webhook_endpoints": _l("No endpoint in this state. The list shows the disabled endpoints unless the State "
                            "filter says otherwise."),
    "audit_log": _l("No audit entries yet. Every change of money, statuses, settings or users is written here."),
}
NOTHING_MATCHES = _l("Nothing matches these filters or this search. Change them, or reset the filters.")
NOTHING_YET = _l("Nothing here yet.")


def filtered():
    """Does the request give a list filter (``flt…``) or a search?"""
    if not has_request_context():
        return False
    return any((name.startswith("flt") or name == "search") and value.strip()
               for name, value in request.args.items(multi=True))


def empty_list_message(view):
    """The sentence an empty list of ``view`` shows."""
    if filtered():
        return NOTHING_MATCHES
    return EMPTY_LISTS.get(view.endpoint, NOTHING_YET)
