"""Connector tokens: how a payment-system connector authenticates to the connector API.

Plain functions, no HTTP. A token is issued for a list of payment systems it may
report for; only its SHA-256 digest is stored (the plain token is returned once, to
be shown once). A token is deactivated, never deleted. Both are audited.
"""
from flask_babel import gettext as _

from ..db import db
from ..models import ConnectorToken, PaymentSystem
from ..security import new_connector_token, token_digest
from . import audit
from .checks import SettingsError

NAME_MAX_LENGTH = 100


def issue_token(name, payment_systems, actor, ip=""):
    """A new token for ``payment_systems`` (codes): ``(plain token, row)``.

    SettingsError names the faulty field (``name``, ``payment_systems``).
    """
    name = (name or "").strip()
    codes = sorted(set(payment_systems or []))
    errors = {}
    if not name:
        errors["name"] = _("is required")
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = _("must be at most %(n)d characters", n=NAME_MAX_LENGTH)
    if not codes:
        errors["payment_systems"] = _("is required")
    else:
        known = {code for (code,) in PaymentSystem.select(PaymentSystem.code).tuples()}
        if not set(codes) <= known:
            errors["payment_systems"] = _("must be one of: %(choices)s", choices=", ".join(sorted(known)))
    if errors:
        raise SettingsError(errors)
    token = new_connector_token()
    with db.atomic():
        row = ConnectorToken.create(name=name, token_hash=token_digest(token), payment_systems=codes)
        audit.record(actor, "connector_token.issue", row, summary={"name": row.name, "payment_systems": codes},
                     ip=ip)
    return token, row


def deactivate_tokens(ids, actor, ip=""):
    """Deactivate the active tokens among ``ids`` (connectors using them stop at once);
    returns how many changed."""
    changed = 0
    for row in ConnectorToken.select().where(ConnectorToken.id.in_(list(ids)) & (ConnectorToken.active == True)):  # noqa: E712
        with db.atomic():
            if ConnectorToken.update(active=False).where(
                    (ConnectorToken.id == row.id) & (ConnectorToken.active == True)).execute():  # noqa: E712
                audit.record(actor, "connector_token.deactivate", row, summary={"name": row.name}, ip=ip)
                changed += 1
    return changed
