"""The SSRF guard: every blocked address form is refused before any connection."""
import socket
import threading

import pytest

from backoffice.services.postback_delivery import post
from backoffice.services import netguard
from backoffice.services.netguard import BlockedDestination, address_block_reason, check_url


class Listener:
    """A TCP socket on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except OSError:
                pass
            conn.close()

    def close(self):
        self.closed = True
        self.sock.close()


@pytest.fixture
def listener():
    ln = Listener()
    yield ln
    ln.close()


# Every spelling of the loopback listener that the guard must see through.
LOOPBACK_FORMS = [
    "127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "0x7f000001", "017700000001", "0177.0.0.1",
    "127.000.000.001", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
    "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::127.0.0.1]", "LOCALHOST",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_in_every_spelling_is_refused_without_a_connection(host, listener):
    url = f"http://{host}:{listener.port}/hook"
    ports = [listener.port]
    with pytest.raises(BlockedDestination) as refused:
        check_url(url, allow_private=False, allowed_ports=ports)
    assert refused.value.reason == "loopback", refused.value
    result = post(url, b"{}", {}, timeout=2, allow_private=False, allowed_ports=ports)
    assert result.refusal == "loopback" and result.status is None and not result.connected
    assert result.error.startswith("refused")
    assert listener.connections == 0


def test_the_listener_does_record_connections_when_allowed(listener):
    """The control: the same kind of URL does connect once private targets are allowed."""
    result = post(f"http://2130706433:{listener.port}/hook", b"{}", {}, timeout=2, allow_private=True)
    assert result.status == 200 and result.connected
    assert listener.connections == 1


BLOCKED = [
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("172.31.255.255", "private"),
    ("192.168.1.1", "private"), ("100.64.0.1", "cgnat"), ("100.127.255.254", "cgnat"),
    ("169.254.169.254", "link_local"), ("198.18.0.1", "benchmarking"), ("198.19.255.1", "benchmarking"),
    ("192.0.2.10", "documentation"), ("198.51.100.7", "documentation"), ("203.0.113.9", "documentation"),
    ("0.0.0.0", "unspecified"), ("0", "unspecified"), ("0.1.2.3", "this_network"), ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"), ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"),
    ("192.0.0.8", "reserved"), ("[::]", "unspecified"), ("[fc00::1]", "unique_local"),
    ("[fd12:3456::1]", "unique_local"), ("[fe80::1]", "link_local"), ("[ff02::1]", "multicast"),
    ("[2001:db8::1]", "documentation"), ("[::ffff:10.0.0.1]", "private"), ("[::ffff:169.254.169.254]", "link_local"),
    ("[::ffff:100.64.0.1]", "cgnat"), ("[64:ff9b::a00:1]", "private"), ("[64:ff9b::6440:1]", "cgnat"),
    ("[2002:a00:1::1]", "private"), ("[2002:c612:1::]", "benchmarking"), ("[64:ff9b:1::1]", "nat64_local"),
    ("[2001::1]", "teredo"), ("[fec0::1]", "site_local"), ("[100::1]", "reserved"),
    ("167772161", "private"), ("0xa.1", "private"), ("012.0.0.1", "private"), ("0xa9fea9fe", "link_local"),
]


@pytest.mark.parametrize("host,reason", BLOCKED, ids=[h for h, _ in BLOCKED])
def test_blocked_ranges_are_refused_with_their_reason(host, reason):
    url = f"http://{host}:8080/hook"
    with pytest.raises(BlockedDestination) as refused:
        check_url(url)
    assert refused.value.reason == reason
    result = post(url, b"{}", {}, timeout=2)
    assert result.refusal == reason and not result.connected and result.duration_ms < 500


def test_is_private_alone_would_have_let_cgnat_through():
    import ipaddress

    assert not ipaddress.ip_address("100.64.0.1").is_private  # Python's opinion
    assert address_block_reason("100.64.0.1") == "cgnat"  # ours


def test_any_blocked_address_refuses_the_whole_host():
    addresses = [(socket.AF_INET, "93.184.216.34"), (socket.AF_INET, "10.0.0.5")]
    with pytest.raises(BlockedDestination) as refused:
        netguard.check_addresses(addresses)
    assert refused.value.reason == "private" and refused.value.address == "10.0.0.5"
    netguard.check_addresses(addresses[:1])  # the public one alone is fine


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8",
                                     "2002:808:808::1", "64:ff9b::808:808", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert address_block_reason(address) is None


@pytest.mark.parametrize("url,reason", [
    ("ftp://example.com/", "scheme"), ("file:///etc/passwd", "scheme"), ("gopher://example.com:70/", "scheme"),
    ("javascript:alert(1)", "scheme"), ("//example.com/", "scheme"), ("http://user:pw@example.com/", "credentials"),
    ("http://example.com@127.0.0.1/", "credentials"), ("http://example.com:22/", "port"),
    ("http://example.com:6379/", "port"), ("https://example.com:5432/", "port"), ("http:///x", "host"),
    ("http://example.com:99999/", "bad_url"), ("http://exa mple.com/", "bad_url"), ("", "bad_url"),
    ("http://no-such-host.invalid/", "unresolvable"),
])
def test_url_rules(url, reason):
    with pytest.raises(BlockedDestination) as refused:
        check_url(url)
    assert refused.value.reason == reason


def test_allowed_ports_and_the_private_switch():
    # Private targets allowed (tests, demos): loopback and any port pass...
    target = check_url("http://127.1:6543/x?y=1", allow_private=True)
    assert target.addresses == [(socket.AF_INET, "127.0.0.1")] and target.path == "/x?y=1"
    assert target.host == "127.1"
    # ...but nothing answers on these, switch or not.
    for host, reason in (("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("[::]", "unspecified")):
        with pytest.raises(BlockedDestination) as refused:
            check_url(f"http://{host}:8080/", allow_private=True)
        assert refused.value.reason == reason
    # An IPv4-mapped answer is dialled as IPv4.
    target = check_url("http://[::ffff:127.0.0.1]:8080/", allow_private=True)
    assert target.addresses == [(socket.AF_INET, "127.0.0.1")]


def test_validate_postback_url_follows_the_app_switch(app):
    with app.app_context():
        app.config["ALLOW_PRIVATE_POSTBACKS"] = True
        assert netguard.validate_postback_url(" http://127.0.0.1:5001/hook ") == "http://127.0.0.1:5001/hook"
        app.config["ALLOW_PRIVATE_POSTBACKS"] = False
        with pytest.raises(ValueError) as refused:
            netguard.validate_postback_url("http://127.0.0.1:8080/hook")
        assert "loopback" in str(refused.value)


def test_the_switch_is_off_by_default(monkeypatch, tmp_path):
    from backoffice.config import from_environment

    monkeypatch.delenv("BACKOFFICE_ALLOW_PRIVATE_POSTBACKS", raising=False)
    assert from_environment(str(tmp_path))["ALLOW_PRIVATE_POSTBACKS"] is False
    monkeypatch.setenv("BACKOFFICE_ALLOW_PRIVATE_POSTBACKS", "1")
    assert from_environment(str(tmp_path))["ALLOW_PRIVATE_POSTBACKS"] is True


def _self_signed(tmp_path, name):
    import subprocess

    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate for "localhost"; it notes SNI and Host."""
    import http.server
    import shutil
    import ssl

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = _self_signed(tmp_path, "localhost")
    seen = {"sni": [], "host": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            seen["host"].append(self.headers.get("Host"))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert, seen, tmp_path
    server.shutdown()
    server.server_close()


def test_https_keeps_the_host_name_for_sni_and_certificate_checks(tls_receiver):
    import ssl

    port, cert, seen, tmp_path = tls_receiver
    trusting = ssl.create_default_context(cafile=str(cert))
    result = post(f"https://localhost:{port}/hook", b"{}", {}, timeout=5, allow_private=True, ssl_context=trusting)
    assert result.status == 204 and result.error is None
    assert seen["sni"] == ["localhost"] and seen["host"] == [f"localhost:{port}"]
    # Dialled by address, the certificate (made out to "localhost") does not match: refused.
    result = post(f"https://127.0.0.1:{port}/hook", b"{}", {}, timeout=5, allow_private=True, ssl_context=trusting)
    assert result.status is None and "certificate" in result.error.lower()
    # An untrusted certificate is refused too.
    other, _ = _self_signed(tmp_path, "other.test")
    result = post(f"https://localhost:{port}/hook", b"{}", {}, timeout=5, allow_private=True,
                  ssl_context=ssl.create_default_context(cafile=str(other)))
    assert result.status is None and "certificate" in result.error.lower()
