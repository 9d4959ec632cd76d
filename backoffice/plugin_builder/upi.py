"""UPI in the plugin (SPEC §13): a ``upi://pay`` link for phones (it opens the visitor's
UPI app with the payee and, when the session names one, the amount filled in) and the
same link as a QR code for desktops, an SVG made here on the server (``qrcode``, the
library the sign-in's second factor already uses), inlined in the page: no request,
no script, nothing the page's CSP would have to allow.
"""
import functools
import re
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from markupsafe import Markup

from ..models import UPI_PAYMENT_SYSTEMS
_SIZE_ATTRS = re.compile(r'\s(width|height)="[^"]*"')


def is_upi(code):
    return code in UPI_PAYMENT_SYSTEMS


def link(vpa, payee, amount=None, currency="INR", note=None):
    """``upi://pay?pa=…&pn=…[&am=…]&cu=…[&tn=…]`` (NPCI's deep-link parameters)."""
    params = [("pa", vpa), ("pn", payee)]
    if amount is not None:
        params.append(("am", str(amount)))
    params.append(("cu", currency))
    if note:
        params.append(("tn", note))
    return "upi://pay?" + "&".join(f"{name}={quote(str(value), safe='@.-_')}" for name, value in params)


@functools.lru_cache(maxsize=1024)
def qr_svg(text):
    """The QR code of ``text`` as inline SVG markup, sized by its container (no fixed
    width or height). Kept per text: a wallet's QR code is drawn once, not per page view."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    svg = _SIZE_ATTRS.sub("", svg.split("?>", 1)[-1].strip(), count=2)
    return Markup(svg.replace("<svg", '<svg focusable="false" aria-hidden="true"', 1))


def for_option(option, merchant, amount=None, currency=None, note=None):
    """``{"link", "qr_svg"}`` for a UPI option (None for any other): with the session's
    amount when it is in the option's currency."""
    if not is_upi(option.code):
        return None
    amount = amount if amount is not None and currency == option.currency else None
    target = link(option.wallet_number, merchant.name, amount, option.currency, note)
    return {"link": target, "qr_svg": qr_svg(target)}
