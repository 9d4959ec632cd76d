"""Sites that tried to show a merchant's plugin without being one of its allowed
origins (issue 22, point 8), and the merchant's one click that allows one.

* ``record(merchant, origin)`` — one atomic upsert per (merchant, origin): first and
  last seen, how often; safe when many visitors arrive at once (SQLite and
  PostgreSQL alike: ``INSERT … ON CONFLICT DO UPDATE``). The Origin header of a client
  that is not a browser can be anything, so at most :data:`MAX_PER_MERCHANT` origins
  are kept per merchant: a new one pushes out the one seen longest ago. The callers
  (the plugin's public endpoints) rate-limit per address before calling.
* ``for_merchant(merchant)`` — the merchant's refused origins, the latest first.
* ``allow(merchant, origin, actor, ip)`` — add a refused origin to the merchant's
  allowed origins through the settings rule (``merchant_settings.update_system``:
  checked, audited with before/after) and forget it as refused, in one transaction.
  Only an origin refused for *this* merchant can be allowed this way.
"""
from flask_babel import gettext as _

from ..db import db, is_postgres, write_transaction
from ..errors import FieldError
from ..models import Merchant, RefusedOrigin, utcnow
from ..origins import normalise_origin
from . import merchant_settings

MAX_PER_MERCHANT = 50


class NotRefused(FieldError):
    """The origin is not one this merchant's plugin refused (or it was allowed already)."""

    status = 404
    code = "not_found"


def _merchant_id(merchant):
    return getattr(merchant, "id", merchant)


def record(merchant, origin, now=None):
    """Count one refusal of ``origin`` (any spelling ``normalise_origin`` accepts) for
    ``merchant``; returns the origin's count, or None when ``origin`` is not an origin
    (nothing is recorded)."""
    origin = normalise_origin(origin)
    if origin is None:
        return None
    merchant_id = _merchant_id(merchant)
    now = now or utcnow()
    with db.atomic():
        rows = list(
            RefusedOrigin.insert(merchant=merchant_id, origin=origin, first_seen=now, last_seen=now, count=1)
            .on_conflict(conflict_target=[RefusedOrigin.merchant, RefusedOrigin.origin],
                         update={RefusedOrigin.count: RefusedOrigin.count + 1, RefusedOrigin.last_seen: now})
            .returning(RefusedOrigin.count).tuples().execute()
        )
        count = rows[0][0] if rows else None
        if count == 1:  # a new origin: keep the newest MAX_PER_MERCHANT
            _prune(merchant_id)
    return count


def _prune(merchant_id):
    keep = (RefusedOrigin.select(RefusedOrigin.id).where(RefusedOrigin.merchant == merchant_id)
            .order_by(RefusedOrigin.last_seen.desc(), RefusedOrigin.id.desc()).limit(MAX_PER_MERCHANT))
    RefusedOrigin.delete().where((RefusedOrigin.merchant == merchant_id) & RefusedOrigin.id.not_in(keep)).execute()


def for_merchant(merchant, limit=MAX_PER_MERCHANT):
    """The merchant's refused origins, the one seen last first."""
    return list(RefusedOrigin.select().where(RefusedOrigin.merchant == _merchant_id(merchant))
                .order_by(RefusedOrigin.last_seen.desc(), RefusedOrigin.id.desc()).limit(limit))


def allow(merchant, origin, actor, ip=""):
    """Make ``origin``, refused for ``merchant``'s plugin, one of its allowed origins
    (``merchant_settings.update_system``: checked, audited) and remove it from the
    refused list. Raises :class:`NotRefused` when the merchant has no such refused
    origin, or ``SettingsError`` when the settings rule refuses the new list (e.g. the
    most origins already). Returns the origin allowed."""
    clean = normalise_origin(origin)
    merchant_id = _merchant_id(merchant)
    with write_transaction():
        if is_postgres():  # one change of the list at a time (no lost update)
            Merchant.select(Merchant.id).where(Merchant.id == merchant_id).for_update().execute()
        row = None if clean is None else RefusedOrigin.get_or_none(
            (RefusedOrigin.merchant == merchant_id) & (RefusedOrigin.origin == clean))
        if row is None:
            raise NotRefused("origin", _("This site is not among the refused sites of this merchant."))
        fresh = Merchant.get_by_id(merchant_id)  # the list as stored now, not as the page saw it
        origins = list(fresh.allowed_origins or [])
        if clean not in [normalise_origin(o) for o in origins]:
            merchant_settings.update_system(fresh, {"allowed_origins": origins + [clean]}, actor, ip=ip or "")
        RefusedOrigin.delete().where(RefusedOrigin.id == row.id).execute()
    if isinstance(merchant, Merchant):
        merchant.allowed_origins = fresh.allowed_origins
    return clean
