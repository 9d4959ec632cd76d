"""Web origins (``scheme://host[:port]``): the one rule for what a merchant's allowed
origin is, shared by the settings that store them and the plugin that checks
``Origin`` headers and redirect URLs against them.

Framework-free.
"""
import re
from urllib.parse import urlsplit

HOST_RE = re.compile(r"^[a-z0-9.-]{1,253}$")
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(value):
    """``scheme://host[:port]`` (http or https, no path, query or credentials), lower
    case, the scheme's default port left out; None when ``value`` is not an origin.

    The host is a DNS name or an IPv4 address (internationalised names in their
    ``xn--`` form); IPv6 literals are refused.
    """
    if not isinstance(value, str):
        return None
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    if not HOST_RE.match(host) or host.startswith((".", "-")) or host.endswith((".", "-")) or ".." in host:
        return None
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


def url_origin(url):
    """The normalised origin of an absolute URL, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return normalise_origin(f"{parts.scheme}://{parts.netloc}")
