"""Every model screen's fields and stored values in words (issue 22, point 5).

Flask-Admin names a column it has no label for after its field ("Pending Activation
Ttl"), labels form fields the same way ("Max Per Transaction"), and prints stored values
as they are: "True", "white-green", "en", "Asia/Dhaka", a Python list. ``ScopedModelView``
asks here instead, for every model screen:

* :func:`column_name`: the view's ``column_labels``, else :data:`FIELD_NAMES` (the audit
  log's sentences name the same fields with the same words), else Flask-Admin's
  made-up name (``tests/test_russian_screens.py`` walks every screen in Russian and
  finds it);
* :func:`labelled_form_args`: create and edit forms label their fields the same way;
* :func:`value_formatters`: the stored values of the fields below as words on lists
  and details pages (a view's own formatters win): a time zone as its city, a language
  by its own name, the plugin's theme and what it does after payment, a country by
  its name, an object type in words, lists one item after another;
* :func:`bool_list` and :func:`bool_detail`: yes or no (the list's icon keeps its
  look; its tooltip names the column and the answer).
"""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from .. import labels
from ..config import PLUGIN_LANGUAGES

# The names of the model screens' fields, when a view gives none.
FIELD_NAMES = {
    "id": _l("ID"),
    "public_key": _l("Public key"),
    "created_at": _l("Created"),
    "last_login_at": _l("Last sign-in"),
    "locked_until": _l("Locked until"),
    "failed_logins": _l("Failed sign-ins in a row"),
    "plugin_secret_previous_until": _l("Previous plugin secret valid until"),
    "own_css_hash": _l("Stylesheet fingerprint"),
    "country": _l("Country"),
    "gif_prompt": _l("Payment instructions (animated GIF)"),
    "paused_reason": _l("Why paused"),
    "last_report_at": _l("Last report"),
    "last_offered_at": _l("Last offered in the plugin"),
    "offered_since": _l("Offered without a report since"),
    "day_start": _l("Day of the daily total"),
    "day_total": _l("Incoming today"),
    "month_start": _l("Month of the monthly total"),
    "month_total": _l("Incoming this month"),
    "last_used_at": _l("Last used"),
    "expires_at": _l("Expires"),
    "disabled_reason": _l("Why disabled"),
    "failing_since": _l("Failing since"),
    "sender_last4": _l("Sender's last 4 digits"),
    "connector": _l("Connector"),
    "first_approved_at": _l("First approval at"),
    # (the audit log's words for the same fields)
    "after_payment": _l("After payment"),
    "after_payment_url": _l("Redirect URL"),
    "allowed_origins": _l("Allowed origins"),
    "pending_activation_ttl": _l("Waiting time of a delayed activation, minutes"),
    "plugin_language": _l("Plugin language"),
    "require_signed_labels": _l("Require signed labels"),
    "theme": _l("Theme"),
    "wallet": _l("Wallet"),
    "withdrawal_dual_approval_above": _l("Two approvals above"),
    "name": _l("Name"), "timezone": _l("Time zone"), "default_display_currency": _l("Default display currency"),
    "delayed_activation": _l("Delayed automatic activation"), "language": _l("Interface language"),
    "active": _l("Active"), "url": _l("URL"), "description": _l("Description"), "event_types": _l("Event types"),
    "enabled": _l("Enabled"), "min_deposit": _l("Minimum deposit"), "commission_percent": _l("Commission, %"),
    "display_order": _l("Display order"), "merchant": _l("Merchant"), "payment_system": _l("Payment system"),
    "identifier": _l("Wallet identifier"), "number": _l("Wallet number"), "code": _l("Code"),
    "currency": _l("Currency"), "rate_to_usd": _l("Rate to USD"), "effective_date": _l("Effective date"),
    "withdrawal_fields": _l("Withdrawal fields"), "status": _l("Status"), "originality": _l("Originality"),
    "login": _l("Login"), "role": _l("Role"), "label": _l("Label"), "amount": _l("Amount"),
    "max_per_transaction": _l("Maximum per payment"), "daily_limit": _l("Daily limit"),
    "monthly_limit": _l("Monthly limit"), "paused": _l("Paused"), "auto_pause": _l("Pause automatically when silent"),
    "transaction_number": _l("Transaction number"), "withdrawal_id": _l("Withdrawal ID"),
}


def known_name(field):
    """The one table's name for a field (None: unknown)."""
    return FIELD_NAMES.get(field)


def column_name(view, field):
    labels = view.column_labels or {}
    if field in labels:
        return labels[field]
    return known_name(field)


def labelled_form_args(view, form_args):
    """``form_args`` with a label for every model field that has a name (explicit form
    labels win)."""
    out = dict(form_args or {})
    for field in view.model._meta.fields:
        name = column_name(view, field)
        if name is None:
            continue
        args = dict(out.get(field) or {})
        args.setdefault("label", name)
        out[field] = args
    return out


# -- stored values as words ------------------------------------------------------------------------

def yes_no(value):
    return _("yes") if value else _("no")


def bool_list(view, value, name):
    """A list's yes/no cell: Flask-Admin's icon, its tooltip in words ("Active: yes")."""
    icon = "fa-check-circle" if value else "fa-minus-circle"
    title = f"{view.get_column_name(name)}: {yes_no(value)}"
    return Markup('<span class="fa %s" role="img" title="%s" aria-label="%s"></span>') % (icon, title, title)


def bool_detail(view, value, name):
    return yes_no(value)


def _listed(items):
    items = [item for item in items if item not in (None, "")]
    return ", ".join(str(item) for item in items) if items else _("(none)")


def _zone(view, context, model, name):
    from .zone_names import zone_label

    return zone_label(getattr(model, name))


def _language(view, context, model, name):
    from ..i18n import languages

    code = getattr(model, name)
    if not code:
        return ""
    own = languages().get(code) or PLUGIN_LANGUAGES.get(code) or code
    return Markup('<span lang="%s">%s</span>') % (code, own)  # each language by its own name


def _mapped(mapping_of):
    def _format(view, context, model, name):
        value = getattr(model, name)
        if value is None or value == "":
            return ""
        return mapping_of().get(value, value)

    return _format


def _list_of_text(view, context, model, name):
    return _listed(getattr(model, name) or [])


def _payment_systems(view, context, model, name):
    """Payment-system codes as the systems' names (read once per page, not per row)."""
    from flask import g

    from ..models import PaymentSystem

    codes = getattr(model, name) or []
    if codes and "payment_system_names" not in g:
        g.payment_system_names = {code: ps_name for code, ps_name in
                                  PaymentSystem.select(PaymentSystem.code, PaymentSystem.name).tuples()}
    names = g.get("payment_system_names", {})
    return _listed(names.get(code, code) for code in codes)


def _country(view, context, model, name):
    """An ISO 3166 code as the country's name in the viewer's language ("BD": Бангладеш)."""
    from flask_babel import get_locale

    code = getattr(model, name)
    if not code:
        return ""
    locale = get_locale()
    return (locale.territories.get(code.upper()) if locale is not None else None) or code


# What an object type of a postback or an audit entry (its model's name) is called.
OBJECT_TYPES = {
    "transaction": _l("Transaction"), "stockpiling": _l("Stockpiling"), "withdrawal": _l("Withdrawal"),
    "merchant": _l("Merchant"), "user": _l("User"), "wallet": _l("Wallet"), "appeal": _l("Appeal"),
    "paymentsystem": _l("Payment system"), "merchantpaymentsystem": _l("Merchant payment settings"),
    "connectortoken": _l("Connector token"), "exchangerate": _l("Exchange rate"),
    "webhookendpoint": _l("Webhook endpoint"), "postback": _l("Postback"),
    "pendingactivation": _l("Pending activation"), "matchingpolicy": _l("Matching policy"),
    "riskblock": _l("Risk block"),
}


def _object_type(view, context, model, name):
    value = getattr(model, name)
    if not value:
        return ""
    known = OBJECT_TYPES.get(value)
    return known if known is not None else Markup("<code>%s</code>") % value  # a code, shown as one


def _code(view, context, model, name):
    """A machine code (an audit entry's action, which its filter searches), shown as code."""
    value = getattr(model, name)
    return Markup("<code>%s</code>") % value if value else ""


VALUE_FORMATTERS = {
    "timezone": _zone,
    "language": _language,
    "plugin_language": _language,
    "theme": _mapped(lambda: labels.THEME),
    "after_payment": _mapped(lambda: labels.AFTER_PAYMENT),
    "allowed_origins": _list_of_text,
    "payment_systems": _payment_systems,
    "country": _country,
    "object_type": _object_type,
}
# Fields whose words depend on the model.
MODEL_VALUE_FORMATTERS = {("AuditLog", "action"): _code}


def value_formatters(model, own):
    """The formatters of ``model``'s known fields, under the view's own ``own``."""
    fields = model._meta.fields
    out = {name: formatter for name, formatter in VALUE_FORMATTERS.items() if name in fields}
    out.update({name: formatter for (model_name, name), formatter in MODEL_VALUE_FORMATTERS.items()
                if model_name == model.__name__ and name in fields})
    out.update(own or {})
    return out


__all__ = ["FIELD_NAMES", "bool_detail", "bool_list", "column_name", "known_name", "labelled_form_args",
           "value_formatters", "yes_no"]
