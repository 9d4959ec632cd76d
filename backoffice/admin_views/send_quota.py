"""The per-merchant limits on sending again (SPEC §10), for every back-office button.

Every button that starts deliveries on demand takes the merchant's quota first,
through :func:`refused` (``services.webhooks.take_send_quota``):

* ``"resend"`` — the Postbacks list's Resend action and its details page's button,
  the Resend postback action of the Transactions and Withdrawals screens: the amount
  is the number of deliveries restarted, counted per merchant (an operator's bulk
  resend can span merchants; each merchant's own limit applies);
* ``"test"`` — Send test postback (Postbacks, Settings → System, Settings → Webhooks):
  one per test event;
* ``"recover"`` — Recover since (Settings → Webhooks): one per recovery.

When a merchant's quota is spent nothing is sent: the answer is ``429`` with
``Retry-After`` and a page saying why (and how long to wait). The amounts already
taken from the other merchants of the same click are given back first.
"""
from flask import current_app, make_response

from ..errors import RateLimited
from ..redirects import safe_next
from ..services import webhooks


def refused(view, kind, per_merchant, back_url=None):
    """Take ``kind`` ("resend" | "test") quota for ``per_merchant`` ({merchant id:
    amount}). None when every merchant's quota allows it (go on and send); else the
    ``429`` response to return (send nothing)."""
    taken = []
    try:
        for merchant_id, amount in sorted(per_merchant.items()):
            if amount > 0:
                webhooks.take_send_quota(current_app.config, merchant_id, kind, amount)
                taken.append((merchant_id, amount))
    except RateLimited as exc:
        give_back(kind, dict(taken))  # this click sends nothing: the others get their share back
        page = view.render("admin/send_quota_refused.html", message=exc.message, retry_after=exc.retry_after,
                           back_url=safe_next(back_url))
        response = make_response(page, 429)
        response.headers.update(exc.headers())
        return response
    return None


def give_back(kind, per_merchant):
    """Return quota taken for a send that did not happen (refused by a rule after all)."""
    for merchant_id, amount in per_merchant.items():
        webhooks.give_back_send_quota(current_app.config, merchant_id, kind, amount)


__all__ = ["give_back", "refused"]
