"""The SSRF guard for postbacks (SPEC §7): which URLs the sender may call.

The rules:

* ``http`` or ``https`` only, no user:password in the URL, on an allowed port
  (80, 443, 8080, 8443; any port when private targets are allowed);
* the host is resolved **once** (``getaddrinfo``, which also normalises the numeric
  tricks ``2130706433``, ``0x7f.1``, ``127.1``, ``017700000001``) and refused when
  **any** address it resolves to is not a public unicast address: loopback,
  RFC 1918, link-local, CGNAT 100.64/10, benchmarking 198.18/15, the documentation
  ranges, reserved, multicast, unspecified, IPv6 unique-local fc00::/7, and the
  IPv4-mapped (``::ffff:a.b.c.d``), IPv4-translated (``::ffff:0:a.b.c.d``),
  IPv4-compatible (``::a.b.c.d``), 6to4 (2002::/16) and NAT64 (64:ff9b::/96) forms
  of those: :func:`embedded_ipv4` normalises each to its IPv4 address, which the
  IPv4 rules then judge;
* the caller then connects to one of the addresses checked here
  (:attr:`Target.addresses`), never to the name again, so DNS rebinding cannot
  slip a second answer past the check.

``ipaddress``'s ``is_private`` is not used as the rule (it calls 100.64.0.1 public):
the networks are listed here, with a name for each refusal.

``ALLOW_PRIVATE_POSTBACKS`` (tests, local demos) lifts the address and port rules,
except for multicast, broadcast and unspecified addresses, which nobody can serve.
"""
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

DEFAULT_ALLOWED_PORTS = frozenset({80, 443, 8080, 8443})

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# (network, reason code) — the first match names the refusal.
BLOCKED_V4 = [
    (_V4("0.0.0.0/32"), "unspecified"),
    (_V4("0.0.0.0/8"), "this_network"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "cgnat"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link_local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments
    (_V4("192.0.2.0/24"), "documentation"),  # TEST-NET-1
    (_V4("192.31.196.0/24"), "reserved"),  # AS112
    (_V4("192.52.193.0/24"), "reserved"),  # AMT
    (_V4("192.88.99.0/24"), "reserved"),  # 6to4 relay anycast
    (_V4("192.168.0.0/16"), "private"),
    (_V4("192.175.48.0/24"), "reserved"),  # AS112 direct delegation
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),  # TEST-NET-2
    (_V4("203.0.113.0/24"), "documentation"),  # TEST-NET-3
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
]

BLOCKED_V6 = [
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("64:ff9b:1::/48"), "nat64_local"),  # local-use NAT64 (RFC 8215)
    (_V6("100::/64"), "reserved"),  # discard-only
    (_V6("2001::/32"), "teredo"),  # tunnels to an obfuscated IPv4 address
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "reserved"),  # SRv6 SIDs
    (_V6("fc00::/7"), "unique_local"),
    (_V6("fe80::/10"), "link_local"),
    (_V6("fec0::/10"), "site_local"),
    (_V6("ff00::/8"), "multicast"),
]

# Blocked even when private targets are allowed: nothing answers there.
ALWAYS_BLOCKED = {"unspecified", "multicast", "broadcast", "this_network"}

REASON_TEXT = {
    "scheme": _l("only http and https URLs are allowed"),
    "credentials": _l("the URL must not contain a user name or password"),
    "host": _l("the URL has no host"),
    "port": _l("this port is not allowed (use 80, 443, 8080 or 8443)"),
    "bad_url": _l("this is not a valid URL"),
    "unresolvable": _l("the host name does not resolve"),
    "unspecified": _l("an unspecified address"),
    "this_network": _l("a 'this network' address (0.0.0.0/8)"),
    "private": _l("a private network address (RFC 1918)"),
    "cgnat": _l("a carrier-grade NAT address (100.64.0.0/10)"),
    "loopback": _l("a loopback address"),
    "link_local": _l("a link-local address"),
    "reserved": _l("a reserved address"),
    "documentation": _l("a documentation address"),
    "benchmarking": _l("a benchmarking address (198.18.0.0/15)"),
    "multicast": _l("a multicast address"),
    "broadcast": _l("the broadcast address"),
    "nat64_local": _l("a local-use NAT64 address"),
    "teredo": _l("a Teredo tunnel address"),
    "unique_local": _l("an IPv6 unique-local address (fc00::/7)"),
    "site_local": _l("an IPv6 site-local address"),
    "not_global": _l("an address that is not publicly routable"),
}


class BlockedDestination(ValueError):
    """A postback URL the sender refuses; ``reason`` is a code, ``address`` the culprit."""

    def __init__(self, reason, address=None, detail=None):
        self.reason = reason
        self.address = address
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self):
        text = str(REASON_TEXT.get(self.reason, self.reason))
        if self.address:
            text = f"{text}: {self.address}"
        if self.detail:
            text = f"{text} ({self.detail})"
        return text

    def __str__(self):
        return self.message


@dataclass
class Target:
    """A checked destination: connect to ``addresses`` (in order), speak to ``host``."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: list = field(default_factory=list)  # [(family, "ip")]


# The IPv6 forms that carry an IPv4 address in their low 32 bits: (network, form).
# 6to4 (2002::/16) carries it in bits 16-47 instead (``IPv6Address.sixtofour``).
_V4_IN_LOW_BITS = [
    (_V6("::ffff:0:0/96"), "ipv4-mapped"),  # ::ffff:a.b.c.d
    (_V6("::ffff:0:0:0/96"), "ipv4-translated"),  # ::ffff:0:a.b.c.d (SIIT, RFC 2765)
    (_V6("64:ff9b::/96"), "nat64"),  # RFC 6052 well-known prefix
    (_V6("::/96"), "ipv4-compatible"),  # ::a.b.c.d (deprecated); :: and ::1 are not
]


def embedded_ipv4(ip):
    """``(IPv4Address, form)`` for an IPv6 address that stands for an IPv4 one (mapped,
    translated, compatible, NAT64, 6to4), else ``(None, None)``: the one place an IPv6
    address is normalised to the IPv4 address it embeds, so the IPv4 rules judge it."""
    if ip.version != 6:
        return None, None
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    for network, form in _V4_IN_LOW_BITS:
        if ip in network:
            if form == "ipv4-compatible" and int(ip) <= 1:
                return None, None  # the unspecified and loopback IPv6 addresses themselves
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), form
    return None, None


def address_block_reason(address, allow_private=False):
    """The reason code an address is refused for, or None when it may be called.

    An IPv6 address that embeds an IPv4 one is judged by that IPv4 address first
    (:func:`embedded_ipv4`), then as itself."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%", 1)[0])
    if address.version == 6:
        embedded, _form = embedded_ipv4(address)
        if embedded is not None:
            return address_block_reason(embedded, allow_private)
        table = BLOCKED_V6
    else:
        table = BLOCKED_V4
    for network, reason in table:
        if address in network:
            if allow_private and reason not in ALWAYS_BLOCKED:
                return None
            return reason
    if not allow_private and not address.is_global:
        return "not_global"  # anything IANA does not list as globally reachable
    return None


def parse_url(url, allow_private=False, allowed_ports=None):
    """Split and check the URL itself (scheme, credentials, host, port); no lookup."""
    url = url.strip() if isinstance(url, str) else ""
    if not url or any(c in url for c in "\r\n\t\x00 \\"):
        raise BlockedDestination("bad_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BlockedDestination("bad_url") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise BlockedDestination("scheme")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BlockedDestination("credentials")
    host = parts.hostname
    if not host:
        raise BlockedDestination("host")
    if port is None:
        port = 443 if scheme == "https" else 80
    ports = DEFAULT_ALLOWED_PORTS if allowed_ports is None else frozenset(allowed_ports)
    if not allow_private and port not in ports:
        raise BlockedDestination("port", detail=str(port))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url=url, scheme=scheme, host=host, port=port, path=path)


def resolve(host, port):
    """Every (family, address) the host resolves to, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise BlockedDestination("unresolvable", detail=str(exc)) from None
    seen, result = set(), []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = sockaddr[0]
        if address not in seen:
            seen.add(address)
            result.append((family, address))
    if not result:
        raise BlockedDestination("unresolvable")
    return result


def check_addresses(addresses, allow_private=False):
    """Refuse when ANY of the addresses is blocked (not only the first)."""
    for _family, address in addresses:
        reason = address_block_reason(address, allow_private)
        if reason:
            raise BlockedDestination(reason, address=address)
    return addresses


def check_url(url, allow_private=False, allowed_ports=None):
    """Parse, resolve once and check: the :class:`Target` to connect to, or raise."""
    target = parse_url(url, allow_private, allowed_ports)
    addresses = resolve(target.host, target.port)
    check_addresses(addresses, allow_private)
    # An IPv4-mapped answer is dialled as the IPv4 address it stands for.
    target.addresses = [
        (socket.AF_INET, str(ipaddress.ip_address(a.split("%")[0]).ipv4_mapped))
        if fam == socket.AF_INET6 and ipaddress.ip_address(a.split("%")[0]).ipv4_mapped
        else (fam, a)
        for fam, a in addresses
    ]
    return target


def validate_postback_url(url, allow_private=None, allowed_ports=None):
    """What the settings page calls when a merchant saves a postback URL.

    Returns the URL (stripped) or raises :class:`BlockedDestination` (a ``ValueError``
    whose ``str`` is a translated sentence for the form). ``allow_private`` defaults
    to the app's ``ALLOW_PRIVATE_POSTBACKS``.
    """
    if allow_private is None or allowed_ports is None:
        config = current_app.config if has_app_context() else {}
        if allow_private is None:
            allow_private = bool(config.get("ALLOW_PRIVATE_POSTBACKS", False))
        if allowed_ports is None:
            allowed_ports = config.get("POSTBACK_ALLOWED_PORTS")
    return check_url(url, allow_private, allowed_ports).url
