"""A merchant's webhook endpoints (SPEC §10), in plain functions.

The Settings → Webhooks screen, the endpoints API, the operators' screens and the
worker's sweeps call these; each change is audited in the transaction that makes it.

* :func:`create_endpoint` / :func:`update_endpoint` / :func:`delete_endpoint` — up to
  :data:`MAX_ENDPOINTS` per merchant; the URL passes the SSRF guard, the filter names
  known event types (empty: every type). Bad input raises :class:`WebhookError`
  naming each faulty field; nothing is saved.
* :func:`rotate_secret` — a new secret, returned once; the old one keeps signing next
  to it for :data:`SECRET_GRACE` (:func:`signing_secrets`).
* :func:`disable` — no more deliveries; the pending ones end as ``error``.
  :func:`auto_disable` does it to every endpoint with no 2xx for
  ``WEBHOOK_DISABLE_AFTER_DAYS`` (5) days (``disabled_reason`` ``failing``).
* :func:`recover` — enable an endpoint again and re-send it every event since a time
  that it did not receive.
* :func:`take_send_quota` — the per-merchant limits on resends and test sends.
* :func:`purge_events` — the events' retention (``EVENT_RETENTION_DAYS``, 90).
"""
import datetime

from flask_babel import gettext as _

from .. import queues
from ..db import db, delete_older, is_postgres, write_transaction
from ..errors import RateLimited, RuleError
from ..models import Event, Merchant, Postback, WebhookEndpoint, utcnow
from ..security import new_postback_secret
from . import audit, postbacks
from .checks import as_bool
from .netguard import validate_postback_url

MAX_ENDPOINTS = 10
SECRET_GRACE = datetime.timedelta(hours=24)
EVENT_TYPES = ("deposit.completed", "deposit.reversed", "withdrawal.approved", "withdrawal.rejected",
               "withdrawal.cancelled", "test")
DISABLED_REASONS = ("failing", "merchant", "operator")
MAX_DESCRIPTION = 500

DEFAULTS = {
    "WEBHOOK_DISABLE_AFTER_DAYS": 5,
    "EVENT_RETENTION_DAYS": 90,
    # Per merchant and minute: deliveries started again by Resend (each endpoint of each
    # event counts), test events, and recoveries (each re-sends a period's events).
    "WEBHOOK_RESEND_PER_MINUTE": 100,
    "WEBHOOK_TEST_PER_MINUTE": 5,
    "WEBHOOK_RECOVER_PER_MINUTE": 5,
}


def setting(config, name):
    value = config.get(name)
    return DEFAULTS[name] if value is None else value


class WebhookError(RuleError):
    """A refused endpoint change; ``fields`` names each faulty field."""

    code = "invalid_endpoint"


class EndpointLimit(WebhookError):
    status = 409
    code = "too_many_endpoints"



def parse_event_types(value):
    """A filter from a list or a comma / line separated text; every name must be known."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [item for line in value.replace(",", "\n").splitlines() if (item := line.strip())]
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise WebhookError(fields={"event_types": _("Give a list of event types.")})
    unknown = [item for item in value if item not in EVENT_TYPES]
    if unknown:
        raise WebhookError(fields={"event_types": _(
            "Unknown event type: %(names)s. Known types: %(known)s.",
            names=", ".join(unknown[:5])[:200], known=", ".join(EVENT_TYPES))})
    return sorted(set(value), key=EVENT_TYPES.index)


def check_values(values, partial=False):
    """The cleaned ``url``, ``description``, ``event_types``, ``enabled`` of ``values``;
    WebhookError naming every faulty field. ``partial``: only the keys given."""
    errors, clean = {}, {}
    if "url" in values or not partial:
        url = values.get("url")
        if not isinstance(url, str) or not url.strip():
            errors["url"] = _("Give the URL the events are sent to.")
        else:
            try:
                clean["url"] = validate_postback_url(url.strip())
            except ValueError as exc:
                errors["url"] = _("Endpoint URL: %(reason)s", reason=str(exc))
    if "description" in values:
        text = values.get("description") or ""
        if not isinstance(text, str) or len(text) > MAX_DESCRIPTION:
            errors["description"] = _("At most %(n)d characters.", n=MAX_DESCRIPTION)
        else:
            clean["description"] = text.strip()
    if "event_types" in values:
        try:
            clean["event_types"] = parse_event_types(values.get("event_types"))
        except WebhookError as exc:
            errors.update(exc.fields)
    if "enabled" in values:
        clean["enabled"] = as_bool(values.get("enabled"))
    if errors:
        raise WebhookError(fields=errors)
    return clean


def endpoints_of(merchant):
    return list(WebhookEndpoint.select().where(WebhookEndpoint.merchant == getattr(merchant, "id", merchant))
                .order_by(WebhookEndpoint.id))


def create_endpoint(merchant, values, actor, ip="", now=None):
    """A new endpoint; returns ``(endpoint, secret)`` (the secret is shown once)."""
    merchant_id = getattr(merchant, "id", merchant)
    clean = check_values(values)
    now = now or utcnow()
    with write_transaction():
        if is_postgres():  # two creates at once must not make eleven
            Merchant.select(Merchant.id).where(Merchant.id == merchant_id).for_update().execute()
        count = WebhookEndpoint.select().where(WebhookEndpoint.merchant == merchant_id).count()
        if count >= MAX_ENDPOINTS:
            raise EndpointLimit(_("A merchant has at most %(n)d webhook endpoints.", n=MAX_ENDPOINTS),
                                {"url": _("At most %(n)d endpoints.", n=MAX_ENDPOINTS)})
        secret = new_postback_secret()
        endpoint = WebhookEndpoint.create(
            merchant=merchant_id, url=clean["url"], description=clean.get("description", ""),
            event_types=clean.get("event_types", []), enabled=clean.get("enabled", True), secret=secret,
            created_at=now, disabled_reason=None if clean.get("enabled", True) else "merchant",
            disabled_at=None if clean.get("enabled", True) else now,
        )
        audit.record(actor, "webhook_endpoint.create", endpoint, merchant=merchant_id, ip=ip,
                     summary={"url": endpoint.url, "event_types": endpoint.event_types})
    return endpoint, secret


def update_endpoint(endpoint, values, actor, ip="", operator=False, now=None):
    """Change an endpoint's URL, description, filter or enabled state; the changed
    fields (before, after). Enabling clears its failure state (no re-send: that is
    :func:`recover`); disabling ends its pending deliveries as ``error``."""
    clean = check_values(values, partial=True)
    changes = {k: (getattr(endpoint, k), v) for k, v in clean.items() if getattr(endpoint, k) != v}
    if not changes:
        return {}
    if changes.get("enabled", (None, False))[1]:
        _may_enable(endpoint, operator)
    now = now or utcnow()
    with db.atomic():
        enabled = changes.pop("enabled", None)
        if changes:
            WebhookEndpoint.update({k: v for k, (_old, v) in changes.items()}).where(
                WebhookEndpoint.id == endpoint.id).execute()
            for name, (_old, new) in changes.items():
                setattr(endpoint, name, new)
        if enabled is not None:
            if enabled[1]:
                _enable(endpoint)
            else:
                _disable(endpoint, "operator" if operator else "merchant", now)
            changes["enabled"] = enabled
        audit.record(actor, "webhook_endpoint.update", endpoint, merchant=endpoint.merchant_id, ip=ip,
                     summary={k: {"before": old, "after": new} for k, (old, new) in changes.items()})
    return changes


def _pending_events(endpoint_id):
    return [row[0] for row in Postback.select(Postback.event_id).where(
        (Postback.endpoint == endpoint_id) & (Postback.status == "pending")).tuples()]


def _resummarise(event_ids):
    for event in Event.select().where(Event.event_id.in_(event_ids)) if event_ids else ():
        postbacks.summarise_objects(event.event_id, event.event_type, event.object_type, event.object_id)


def delete_endpoint(endpoint, actor, ip=""):
    """Delete an endpoint and its delivery log; the events it had pending are summed up
    again from their other deliveries."""
    with db.atomic():
        pending = _pending_events(endpoint.id)
        audit.record(actor, "webhook_endpoint.delete", endpoint, merchant=endpoint.merchant_id, ip=ip,
                     summary={"url": endpoint.url})
        WebhookEndpoint.delete().where(WebhookEndpoint.id == endpoint.id).execute()
        _resummarise(pending)


def rotate_secret(endpoint, actor, ip="", grace=SECRET_GRACE, now=None):
    """A new secret (returned once); the old one signs too until the grace ends."""
    now = now or utcnow()
    secret = new_postback_secret()
    with db.atomic():
        WebhookEndpoint.update(secret=secret, previous_secret=endpoint.secret,
                               previous_secret_until=now + grace).where(WebhookEndpoint.id == endpoint.id).execute()
        audit.record(actor, "webhook_endpoint.rotate_secret", endpoint, merchant=endpoint.merchant_id, ip=ip,
                     summary={"grace_until": (now + grace).isoformat(timespec="seconds")})
    endpoint.previous_secret, endpoint.previous_secret_until, endpoint.secret = endpoint.secret, now + grace, secret
    return secret


def signing_secrets(endpoint, now=None):
    """The secrets a delivery is signed with now: the current one, and the previous one
    while its grace period lasts (``webhook-signature: v1,<new> v1,<old>``)."""
    now = now or utcnow()
    out = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        out.append(endpoint.previous_secret)
    return out


def _may_enable(endpoint, operator):
    """An endpoint an operator switched off is switched on by an operator only."""
    if endpoint.disabled_reason == "operator" and not operator:
        raise WebhookError(fields={"enabled": _(
            "An operator disabled this endpoint: ask support to enable it again.")})


def _enable(endpoint):
    WebhookEndpoint.update(enabled=True, disabled_reason=None, disabled_at=None, failing_since=None,
                           consecutive_failures=0, circuit_until=None).where(
        WebhookEndpoint.id == endpoint.id).execute()
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
    endpoint.failing_since, endpoint.consecutive_failures, endpoint.circuit_until = None, 0, None


def _disable(endpoint, reason, now):
    pending = _pending_events(endpoint.id)
    WebhookEndpoint.update(enabled=False, disabled_reason=reason, disabled_at=now, circuit_until=None).where(
        WebhookEndpoint.id == endpoint.id).execute()
    (Postback.update(status="error", last_error="endpoint disabled", locked_until=None, next_attempt_at=None)
     .where((Postback.endpoint == endpoint.id) & (Postback.status == "pending")).execute())
    _resummarise(pending)
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now


def disable(endpoint, reason, actor, ip="", now=None):
    """Stop delivering to an endpoint; its pending deliveries end as ``error``."""
    if reason not in DISABLED_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    now = now or utcnow()
    with db.atomic():
        _disable(endpoint, reason, now)
        audit.record(actor, "webhook_endpoint.disable", endpoint, merchant=endpoint.merchant_id, ip=ip,
                     summary={"reason": reason})


def auto_disable(config, now=None):
    """Disable every enabled endpoint without a 2xx for ``WEBHOOK_DISABLE_AFTER_DAYS``
    days (``failing_since`` that old); the endpoints disabled. The worker runs it hourly."""
    now = now or utcnow()
    cutoff = now - datetime.timedelta(days=float(setting(config, "WEBHOOK_DISABLE_AFTER_DAYS")))
    done = []
    for endpoint in WebhookEndpoint.select().where(
            (WebhookEndpoint.enabled == True) & (WebhookEndpoint.failing_since <= cutoff)):  # noqa: E712
        with db.atomic():
            _disable(endpoint, "failing", now)
            audit.record(None, "webhook_endpoint.auto_disable", endpoint, merchant=endpoint.merchant_id,
                         summary={"url": endpoint.url, "failing_since": endpoint.failing_since.isoformat(
                             timespec="seconds")})
        done.append(endpoint)
    return done


def recover(endpoint, since, actor, ip="", now=None, operator=False):
    """Enable an endpoint (if it is not) and re-send it every event since ``since`` that
    it did not receive: each event of its merchant, created from ``since`` (and not
    before the endpoint existed), that its filter takes and that it has no ``sent`` or
    ``pending`` delivery of. Test events are not re-sent. Returns how many."""
    now = now or utcnow()
    if not isinstance(since, datetime.datetime):
        raise WebhookError(fields={"since": _("Give a date and time.")})
    if since > now:
        raise WebhookError(fields={"since": _("The time is in the future.")})
    if not endpoint.enabled:
        _may_enable(endpoint, operator)
    start = max(since, endpoint.created_at)
    with db.atomic():
        if not endpoint.enabled:
            _enable(endpoint)
        received = Postback.select(Postback.event_id).where(
            (Postback.endpoint == endpoint.id) & Postback.status.in_(["sent", "pending"]))
        missed = list(Event.select().where(
            (Event.merchant == endpoint.merchant_id) & (Event.created_at >= start) & (Event.event_type != "test")
            & Event.event_id.not_in(received)).order_by(Event.id))
        missed = [event for event in missed if postbacks.takes(endpoint, event.event_type)]
        for event in missed:
            postbacks.deliver_event_again(event, [endpoint], now, skip_sent=True)
        audit.record(actor, "webhook_endpoint.recover", endpoint, merchant=endpoint.merchant_id, ip=ip,
                     summary={"since": since.isoformat(timespec="seconds"), "events": len(missed)})
    return len(missed)


def disabled_for_failing(merchant):
    """The merchant's endpoints that switched themselves off (the back office's banner)."""
    return list(WebhookEndpoint.select().where(
        (WebhookEndpoint.merchant == getattr(merchant, "id", merchant)) & (WebhookEndpoint.enabled == False)  # noqa: E712
        & (WebhookEndpoint.disabled_reason == "failing")).order_by(WebhookEndpoint.id))


QUOTA_SETTINGS = {"resend": "WEBHOOK_RESEND_PER_MINUTE", "test": "WEBHOOK_TEST_PER_MINUTE",
                  "recover": "WEBHOOK_RECOVER_PER_MINUTE"}


def _quota_key(kind, merchant_id):
    return f"backoffice:webhooks:quota:{kind}:{int(merchant_id)}"


def take_send_quota(config, merchant_id, kind, amount=1):
    """Count ``amount`` resends (``kind`` "resend"), test sends ("test") or recoveries
    ("recover") against the merchant's per-minute limit; RateLimited (429,
    ``Retry-After``) when it is spent."""
    limit = int(setting(config, QUOTA_SETTINGS[kind]))
    key = _quota_key(kind, merchant_id)
    try:
        allowed, retry_after = queues.quota(config, key, limit, 60, amount)
    except Exception:  # noqa: BLE001 - Redis away: refuse nothing (the sends are still bounded by the caps)
        return
    if not allowed:
        if kind == "resend":
            message = _("Too many resends: at most %(n)d deliveries a minute. Try again in %(s)d s.",
                        n=limit, s=retry_after)
        elif kind == "recover":
            message = _("Too many recoveries: at most %(n)d a minute. Try again in %(s)d s.", n=limit, s=retry_after)
        else:
            message = _("Too many test postbacks: at most %(n)d a minute. Try again in %(s)d s.",
                        n=limit, s=retry_after)
        raise RateLimited(message, retry_after)


def give_back_send_quota(config, merchant_id, kind, amount=1):
    """Return quota taken for sends that did not happen after all."""
    if amount > 0:
        try:
            queues.quota(config, _quota_key(kind, merchant_id), 1 << 30, 60, -amount)
        except Exception:  # noqa: BLE001 - Redis away: nothing was counted either
            pass


def purge_events(config, now=None, batch=5000):
    """Delete the events older than ``EVENT_RETENTION_DAYS`` (their deliveries stay in
    the delivery log); how many."""
    cutoff = (now or utcnow()) - datetime.timedelta(days=float(setting(config, "EVENT_RETENTION_DAYS")))
    return delete_older(Event, Event.created_at, cutoff, batch)
