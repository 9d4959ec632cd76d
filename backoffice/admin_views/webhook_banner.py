"""The merchant's webhook banner (SPEC §10): while one of its endpoints is switched
off for failing (no 2xx for days, ``services.webhooks.auto_disable``), every
back-office page shows its users a banner naming the endpoints
(``templates/admin/backoffice_base.html``), linking to Settings → Webhooks for those
who may open it (the owner; staff are told to ask the owner).

Nothing for operators (their list is the Webhook endpoints screen) or signed-out
pages; for a merchant user one indexed query per page.
"""
from flask_login import current_user

from .. import roles
from ..services.webhooks import disabled_for_failing
from .base import current_role

SHOWN = 3  # endpoints named in the banner; the rest are counted


def webhook_banner():
    """The merchant's endpoints disabled for failing (a list, maybe empty), or None."""
    if current_role() not in (roles.OWNER, roles.STAFF) or current_user.merchant_id is None:
        return None
    return disabled_for_failing(current_user.merchant_id) or None


def may_open_webhooks():
    return roles.allowed("webhooks", "view", current_role())


def init_app(app):
    @app.context_processor
    def _webhook_banner():
        return {"webhook_banner": webhook_banner, "webhook_banner_shown": SHOWN,
                "may_open_webhooks": may_open_webhooks}
