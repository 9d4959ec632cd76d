"""A merchant's system settings (Settings → System) and its secrets.

Plain functions, no HTTP: the settings pages and the operators' screens call them.
Bad input raises :class:`~backoffice.services.checks.SettingsError` naming the faulty
field(s) and nothing is saved; every change writes an audit entry (before / after,
never a secret).

* System (merchant owner, or an operator for any merchant): behaviour after payment,
  time zone, allowed origins, signed labels, the plugin's default language (webhook
  endpoints are ``services.webhooks``'); operators only: delayed activation and its TTL, and the amount above which
  a withdrawal needs two operators' approvals (ignored when a merchant posts them).
* API key rotation (the new value is returned once, to be shown once).
"""
from urllib.parse import urlsplit

from flask_babel import gettext as _

from ..config import PLUGIN_LANGUAGES
from ..db import db
from ..models import AFTER_PAYMENT, Merchant
from ..origins import normalise_origin, url_origin
from ..security import new_api_key
from . import audit
from .checks import SettingsError, as_bool, check_timezone
from .merchants import apply_changes
from .withdrawals import ValidationFailed, parse_dual_approval_threshold

MERCHANT_FIELDS = ("after_payment", "after_payment_url", "timezone", "allowed_origins",
                   "require_signed_labels", "plugin_language")
OPERATOR_FIELDS = ("delayed_activation", "pending_activation_ttl", "withdrawal_dual_approval_above")
MAX_ORIGINS = 50
TTL_RANGE = (1, 24 * 60)  # minutes


def parse_origins(text):
    """One origin per line (or comma separated); a bad one names its line."""
    items = [item for line in (text or "").replace(",", "\n").splitlines() if (item := line.strip())]
    origins = []
    for n, item in enumerate(items, 1):
        origin = normalise_origin(item)
        if origin is None:
            raise SettingsError({"allowed_origins": _(
                "Line %(n)d (%(value)s) is not an origin: write the scheme and host, e.g. https://shop.example.com, "
                "optionally with a port, and no path.", n=n, value=item[:100])})
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MAX_ORIGINS:
        raise SettingsError({"allowed_origins": _("At most %(n)d origins.", n=MAX_ORIGINS)})
    return origins



def _check_system(merchant, values, operator):
    """The cleaned values that change, or SettingsError listing every faulty field."""
    allowed = MERCHANT_FIELDS + (OPERATOR_FIELDS if operator else ())
    errors, clean = {}, {}
    for name in allowed:
        if name not in values:
            continue
        value = values[name]
        try:
            if name == "after_payment":
                if value not in AFTER_PAYMENT:
                    raise SettingsError({name: _("Choose what happens after payment.")})
            elif name == "after_payment_url":
                value = (value or "").strip()
                parts = urlsplit(value) if value else None
                if value and (parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000):
                    raise SettingsError({name: _("The redirect URL must be an http(s) address.")})
            elif name == "timezone":
                value = check_timezone(value)
            elif name == "allowed_origins":
                value = parse_origins(value) if isinstance(value, str) else parse_origins("\n".join(value or []))
            elif name == "plugin_language":
                # The language the plugin speaks when neither data-lang nor the
                # visitor's browser names one it knows (SPEC §13).
                value = value.strip() if isinstance(value, str) else None
                if value not in PLUGIN_LANGUAGES:
                    raise SettingsError({name: _("Plugin language: choose one of %(names)s.",
                                                 names=", ".join(PLUGIN_LANGUAGES.values()))})
            elif name in ("require_signed_labels", "delayed_activation"):
                value = as_bool(value)
            elif name == "withdrawal_dual_approval_above":
                try:
                    value = parse_dual_approval_threshold(value)
                except ValidationFailed as exc:
                    raise SettingsError({name: _("Two-operator threshold: %(reason)s", reason=exc.message)}) from None
            elif name == "pending_activation_ttl":
                try:
                    value = int(str(value).strip())
                except ValueError:
                    value = None
                if value is None or not TTL_RANGE[0] <= value <= TTL_RANGE[1]:
                    raise SettingsError({name: _("The waiting time must be %(lo)d to %(hi)d minutes.",
                                                 lo=TTL_RANGE[0], hi=TTL_RANGE[1])})
        except SettingsError as exc:
            errors.update(exc.errors)
            continue
        clean[name] = value
    after = clean.get("after_payment", merchant.after_payment)
    url = clean.get("after_payment_url", merchant.after_payment_url)
    if after == "redirect" and "after_payment_url" not in errors and "allowed_origins" not in errors:
        origins = clean.get("allowed_origins", merchant.allowed_origins or [])
        if not url:
            errors["after_payment_url"] = _("Give the URL to redirect to.")
        elif url_origin(url) not in origins:
            # The plugin only redirects to the merchant's own sites (SPEC §5).
            errors["after_payment_url"] = _("The redirect URL must be on one of the allowed origins.")
    if errors:
        raise SettingsError(errors)
    return {k: v for k, v in clean.items() if getattr(merchant, k) != v}


def update_system(merchant, values, actor, operator=False, ip=""):
    """Save the system settings; returns the changed fields ({} when nothing changed).

    Only the merchant fields are read from ``values`` (plus the operator-only ones
    when ``operator``): anything else posted is ignored.
    """
    changes = _check_system(merchant, values, operator)
    if not changes:
        return {}
    apply_changes(merchant, changes, actor, "merchant.settings", ip=ip)
    return changes


def rotate_api_key(merchant, actor, ip=""):
    """A new merchant API key (returned once); the old one stops working at once."""
    key = new_api_key()
    with db.atomic():
        Merchant.update(api_key=key).where(Merchant.id == merchant.id).execute()
        audit.record(actor, "merchant.rotate_api_key", merchant, merchant=merchant.id, ip=ip)
    merchant.api_key = key
    return key
