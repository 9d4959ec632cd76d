"""Issue 17, class 8: every IPv6 form that embeds an IPv4 address is judged by that
IPv4 address (``services/netguard.py: embedded_ipv4``), in the URL check (an IPv6
literal in the postback URL) and in the resolved-address check (what a host name
resolves to)."""
import ipaddress
import socket

import pytest

from backoffice.services import netguard
from backoffice.services.netguard import BlockedDestination, check_url, embedded_ipv4
from backoffice.services.postback_delivery import post

TARGETS = {"127.0.0.1": "loopback", "10.0.0.1": "private", "192.168.1.1": "private",
           "169.254.169.254": "link_local"}


def _v4_hex(v4):
    n = int(ipaddress.IPv4Address(v4))
    return f"{n >> 16:x}:{n & 0xFFFF:x}"


def forms(v4):
    """Every IPv6 spelling of ``v4`` the guard must see through: (form, address)."""
    n = int(ipaddress.IPv4Address(v4))
    return [
        ("ipv4-mapped", f"::ffff:{v4}"),
        ("ipv4-mapped", f"::ffff:{_v4_hex(v4)}"),
        ("ipv4-translated", f"::ffff:0:{v4}"),
        ("ipv4-translated", f"::ffff:0:{_v4_hex(v4)}"),
        ("ipv4-translated", f"0:0:0:0:ffff:0:{v4}"),
        ("ipv4-compatible", f"::{v4}"),
        ("ipv4-compatible", f"::{_v4_hex(v4)}"),
        ("nat64", f"64:ff9b::{v4}"),
        ("6to4", f"2002:{n >> 16:x}:{n & 0xFFFF:x}::1"),
    ]


CASES = [(form, address, v4, reason) for v4, reason in TARGETS.items() for form, address in forms(v4)]
IDS = [address for _form, address, _v4, _reason in CASES]


@pytest.mark.parametrize("form,address,v4,reason", CASES, ids=IDS)
def test_every_form_is_normalised_to_its_ipv4_address(form, address, v4, reason):
    assert embedded_ipv4(ipaddress.ip_address(address)) == (ipaddress.IPv4Address(v4), form)


@pytest.mark.parametrize("form,address,v4,reason", CASES, ids=IDS)
def test_the_url_check_refuses_each_form(form, address, v4, reason):
    url = f"http://[{address}]:8080/hook"
    with pytest.raises(BlockedDestination) as refused:
        check_url(url)
    assert refused.value.reason == reason
    result = post(url, b"{}", {}, timeout=2)
    assert result.refusal == reason and not result.connected


@pytest.mark.parametrize("form,address,v4,reason", CASES, ids=IDS)
def test_the_resolved_address_check_refuses_each_form(form, address, v4, reason):
    """What a host name resolves to (an AAAA answer in one of these forms)."""
    answers = [(socket.AF_INET, "93.184.216.34"), (socket.AF_INET6, address)]
    with pytest.raises(BlockedDestination) as refused:
        netguard.check_addresses(answers)
    assert refused.value.reason == reason and refused.value.address == address


@pytest.mark.parametrize("address", ["::", "::1", "2606:4700:4700::1111", "fe80::1"])
def test_plain_ipv6_addresses_embed_nothing(address):
    assert embedded_ipv4(ipaddress.ip_address(address)) == (None, None)


def test_a_public_ipv4_in_an_embedding_form_is_judged_as_that_address():
    for form, address in forms("8.8.8.8"):
        assert netguard.address_block_reason(address) is None, (form, address)
