"""What the plugin shows a visitor of a merchant: the rules as plain functions.

* ``plugin_options`` — the merchant's payment systems enabled for the plugin (active,
  with at least one active wallet), in display order, each with its minimum deposit,
  GIF prompt and the wallet number to pay to;
* the wallet of each system is ``services.wallets.choose``'s: not paused, within its
  limits (and the visitor's amount, when known), the most headroom first, then a
  stable hash of the label;
* ``theme_url``, ``after_payment``, ``config_json`` — the rest of SPEC §6's config;
* ``upload_own_theme`` / ``choose_theme`` — a merchant's own sheet (checked against the
  allowlist of ``css``) and its choice of theme, audited: the upload form and the
  merchant API both call them;
* ``upload_prompt`` / ``delete_prompt`` — a payment system's GIF prompt (checked and
  re-encoded by ``gif``), audited, the replaced file removed after the commit: the
  Plugin appearance screen and the merchant API call them;
* ``allowed_origins`` / ``origin_allowed`` / ``url_on_allowed_origin`` — the merchant's
  embedding sites, normalised (scheme://host[:port]).
"""
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from flask import url_for
from flask_babel import gettext as _

from ..db import write_transaction
from ..models import Merchant, MerchantPaymentSystem, PaymentSystem, utcnow
from ..money import to_str
from ..origins import normalise_origin
from ..services import audit, matching
from ..services import wallets as wallet_rules
from .css import MAX_CSS_BYTES, CssProblem, validate_css
from .gif import GifError, clean_gif, clear_prompt, remove_prompt, set_prompt, store_prompt

BUILT_IN_THEMES = ("dark", "light", "white-green")
THEMES = BUILT_IN_THEMES + ("own",)
DEFAULT_THEME = "light"
AFTER_PAYMENT = ("message", "redirect", "close")
CODE_RE = re.compile(r"^[a-z0-9_-]{1,32}$")


@dataclass
class PluginOption:
    code: str
    name: str
    currency: str
    min_deposit: Decimal
    prompt: str  # the stored file name, or None
    wallet_number: str
    settings_id: int

    def as_json(self):
        return {
            "code": self.code,
            "name": self.name,
            "currency": self.currency,
            "min_deposit": to_str(self.min_deposit),
            "prompt_url": prompt_url(self.prompt),
            "wallet_number": self.wallet_number,
        }


def allowed_origins(merchant):
    out = []
    for value in merchant.allowed_origins or []:
        origin = normalise_origin(value)
        if origin and origin not in out:
            out.append(origin)
    return out


def origin_allowed(merchant, origin):
    origin = normalise_origin(origin)
    return bool(origin) and origin in allowed_origins(merchant)


def url_on_allowed_origin(merchant, url):
    """``url`` when it is an absolute http(s) URL on one of the merchant's origins, else None."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.username or parts.password:
        return None
    return url.strip() if origin_allowed(merchant, f"{parts.scheme}://{parts.netloc}") else None


def frame_ancestors(merchant):
    origins = allowed_origins(merchant)
    return " ".join(origins) if origins else "'none'"


def parse_codes(value):
    """``data-payment-systems``: a comma-separated list of codes (None: all)."""
    if not value:
        return None
    codes = [c.strip().lower() for c in str(value).split(",")]
    return [c for c in codes if CODE_RE.match(c)] or None


def plugin_options(merchant, label=None, only=None, amount=None, now=None):
    """The payment systems to offer, each with the wallet to pay to
    (``services.wallets.choose``: limits, pauses, headroom; ``amount``, when the
    visitor's amount is known, must fit). The wallets shown are stamped (health)."""
    rows = (
        MerchantPaymentSystem.select(MerchantPaymentSystem, PaymentSystem)
        .join(PaymentSystem)
        .where(
            (MerchantPaymentSystem.merchant == merchant)
            & (MerchantPaymentSystem.enabled == True)  # noqa: E712 - SQL comparison
            & (PaymentSystem.active == True)  # noqa: E712
        )
        .order_by(MerchantPaymentSystem.display_order, PaymentSystem.name)
    )
    if only is not None:  # None: all; an empty list: none (a session and the snippet that agree on none)
        rows = rows.where(PaymentSystem.code.in_(only or [""]))
    rows = list(rows)
    now = now or utcnow()
    eligible = {}
    if rows:
        eligible = wallet_rules.eligible_by_system(merchant.id, wallet_rules.local_day(merchant.timezone, now), amount)
    options, shown = [], []
    for row in rows:
        wallet = wallet_rules.pick(eligible.get(row.payment_system_id), label)
        if wallet is None:
            continue  # nothing to pay to: not offered
        shown.append(wallet)
        ps = row.payment_system
        options.append(PluginOption(ps.code, ps.name, ps.currency, row.min_deposit, row.gif_prompt, wallet.number,
                                    row.id))
    wallet_rules.mark_offered(shown, now)
    return options


def prompt_url(name, external=True):
    if not name:
        return None
    return url_for("plugin.prompt_file", name=name, _external=external)


def theme_name(merchant):
    if merchant.theme == "own" and merchant.own_css and merchant.own_css_hash:
        return "own"
    return merchant.theme if merchant.theme in BUILT_IN_THEMES else DEFAULT_THEME


def theme_url(merchant, external=True):
    name = theme_name(merchant)
    if name == "own":
        return url_for("plugin.own_theme", public_key=merchant.public_key, digest=merchant.own_css_hash[:16],
                       _external=external)
    return url_for("static", filename=f"themes/{name}.css", _external=external)


def after_payment(merchant):
    behaviour = merchant.after_payment if merchant.after_payment in AFTER_PAYMENT else "message"
    return {"behaviour": behaviour, "url": url_on_allowed_origin(merchant, merchant.after_payment_url)}


def config_json(merchant, label=None, only=None, amount=None):
    """``GET /plugin/api/config`` (SPEC §6)."""
    return {
        "merchant": merchant.public_key,
        "payment_systems": [o.as_json() for o in plugin_options(merchant, label, only, amount)],
        "theme": theme_name(merchant),
        "theme_url": theme_url(merchant),
        "after_payment": after_payment(merchant),
        "require_signed_labels": bool(merchant.require_signed_labels),
        "requires": requires(merchant),
    }


def requires(merchant):
    """What the visitor must state beside the number (the merchant's matching policy)."""
    return matching.policy_for(merchant.id).requires()


def merchant_by_public_key(public_key):
    if not public_key or not isinstance(public_key, str) or len(public_key) > 64:
        return None
    return Merchant.get_or_none(Merchant.public_key == public_key)


def set_own_css(merchant, clean_css, digest):
    """Store a validated sheet and make it the merchant's theme."""
    merchant.own_css = clean_css
    merchant.own_css_hash = digest
    merchant.theme = "own"
    merchant.save()


class ThemeError(ValueError):
    """A theme refused: ``message`` for people; ``problems`` the sheet's
    :class:`~backoffice.plugin_builder.css.CssProblem` list when an upload was refused."""

    def __init__(self, message, problems=()):
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


def upload_own_theme(merchant, data, actor, ip="", via=None):
    """Check an uploaded sheet against the allowlist, store it re-serialised and make
    it the merchant's theme (audited, ``via`` noted when given). Returns the
    :class:`~backoffice.plugin_builder.css.CssResult`.

    ``data``: the bytes uploaded, read up to one byte over ``MAX_CSS_BYTES`` (None:
    the upload was larger still). A refused sheet raises :class:`ThemeError` whose
    ``problems`` name the line, column and reason of each fault.
    """
    if data is None:
        result = None
        problems = [CssProblem(1, 1, _("The file is over %(n)d KiB.", n=MAX_CSS_BYTES // 1024))]
    else:
        result = validate_css(data)
        problems = result.errors
    if result is None or not result.ok:
        raise ThemeError(_("The stylesheet is refused."), problems)
    summary = {"theme": "own"}
    if via:
        summary["via"] = via
    summary["sha256"] = result.digest[:16]
    with write_transaction():
        set_own_css(merchant, result.css, result.digest)
        audit.record(actor, "plugin.theme", merchant, merchant=merchant, summary=summary, ip=ip or "")
    return result


def choose_theme(merchant, choice, actor, ip=""):
    """Make ``choice`` (one of :data:`THEMES`) the merchant's theme (audited); ``own``
    needs a sheet uploaded before. Raises :class:`ThemeError`."""
    if choice not in THEMES:
        raise ThemeError(_("Choose one of the themes."))
    if choice == "own" and not merchant.own_css:
        raise ThemeError(_("Upload a CSS file for your own theme."))
    before = merchant.theme
    with write_transaction():
        merchant.theme = choice
        merchant.save()
        audit.record(actor, "plugin.theme", merchant, merchant=merchant, summary={"before": before, "after": choice},
                     ip=ip or "")


def _prompt_summary(settings, via):
    summary = {"payment_system": settings.payment_system.code}
    if via:
        summary["via"] = via
    return summary


def upload_prompt(settings, data, actor, ip="", via=None):
    """Make the uploaded GIF the prompt of ``settings`` (a merchant's
    MerchantPaymentSystem): checked and re-encoded (``gif.clean_gif``), stored under a
    new name, audited (``via`` noted when given); the replaced file is removed once the
    change has committed. Returns the new file's name.

    ``data``: the bytes uploaded, read up to one byte over ``gif.MAX_BYTES`` (None: the
    upload was larger still). A refused picture raises :class:`~.gif.GifError` (a
    RuleError: ``422 invalid_gif`` naming the rule broken) and changes nothing.
    """
    if data is None:
        raise GifError("too_large", _("The file is over 1 MiB."))
    clean = clean_gif(data)  # outside the transaction: decoding may take a while
    summary = _prompt_summary(settings, via)
    name = store_prompt(clean)
    before = settings.gif_prompt
    try:
        with write_transaction():
            old = set_prompt(settings, name)
            audit.record(actor, "plugin.prompt", settings, merchant=settings.merchant_id, summary=summary,
                         ip=ip or "")
    except BaseException:
        settings.gif_prompt = before
        remove_prompt(name)  # stored, never committed
        raise
    if old and old != name:
        remove_prompt(old)
    return name


def delete_prompt(settings, actor, ip=""):
    """Remove the GIF prompt of ``settings`` (audited); the file goes after the commit."""
    summary = _prompt_summary(settings, None)
    with write_transaction():
        old = clear_prompt(settings)
        audit.record(actor, "plugin.prompt_removed", settings, merchant=settings.merchant_id, summary=summary,
                     ip=ip or "")
    remove_prompt(old)
    return old
