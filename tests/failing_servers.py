"""Real local servers that make a postback delivery fail in each way people must read
about in words (issue 22, point 4): refused, silent, a bad certificate, no TLS, closed
without an answer, an answer that is not HTTP, a redirect, a 500.

``failure_urls(tmp_path)`` (a context manager) gives ``{kind: url}`` for the kinds
that need a live server (or a closed port); the SSRF guard's refusals (a loopback
address, a port, a name that does not resolve) need no server, only
``ALLOW_PRIVATE_POSTBACKS`` off: see :data:`GUARD_URLS`.
"""
import contextlib
import socket
import ssl
import subprocess
import threading

from http_receiver import Receiver

# Refused by the SSRF guard before any connection (ALLOW_PRIVATE_POSTBACKS off).
GUARD_URLS = {
    "private": "http://127.0.0.1/hook",
    "port": "http://127.0.0.1:8999/hook",
    "dns": "http://nowhere.invalid/hook",
    "url": "ftp://example.com/hook",
}


class RawServer:
    """A TCP server on 127.0.0.1 that reads the request, then answers ``reply`` (bytes,
    or None: close without a word); with ``tls`` (an ``ssl.SSLContext``) it first
    speaks TLS."""

    def __init__(self, reply=None, tls=None):
        self.reply = reply
        self.tls = tls
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(2)
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                conn.recv(65536)
                if self.reply:
                    conn.sendall(self.reply)
            except OSError:  # the client gave up (e.g. on our certificate)
                pass
            finally:
                conn.close()

    def close(self):
        self.stopped = True
        self.sock.close()


def self_signed_context(directory):
    """A server TLS context with a self-signed certificate (made by ``openssl``): a
    client that checks certificates refuses it."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    return context


def closed_port():
    """A port on 127.0.0.1 where nothing listens (connecting is refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@contextlib.contextmanager
def failure_urls(directory, slow_seconds=3):
    """``{kind: url}`` of live failures (kinds as ``backoffice.delivery_errors`` names
    them); ``timeout`` answers after ``slow_seconds`` (set POSTBACK_TIMEOUT below it)."""
    made = []
    try:
        plain = Receiver()
        made.append(plain)
        slow = Receiver()
        slow.script = [{"delay": slow_seconds}]
        made.append(slow)
        redirect = Receiver()
        redirect.script = [{"status": 302, "headers": {"Location": "http://127.0.0.1:1/elsewhere"}}]
        made.append(redirect)
        failing = Receiver()
        failing.script = [{"status": 500, "body": b"oops"}]
        made.append(failing)
        tls = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", tls=self_signed_context(directory))
        made.append(tls)
        closing = RawServer(None)
        made.append(closing)
        garbage = RawServer(b"this is not HTTP\r\n\r\n")
        made.append(garbage)
        yield {
            "connection_refused": f"http://127.0.0.1:{closed_port()}/hook",
            "timeout": slow.url,
            "certificate": f"https://127.0.0.1:{tls.port}/hook",
            "tls": f"https://127.0.0.1:{plain.port}/hook",  # TLS spoken to a plain HTTP server
            "closed": f"http://127.0.0.1:{closing.port}/hook",
            "bad_answer": f"http://127.0.0.1:{garbage.port}/hook",
            "redirect": redirect.url,
            "http": failing.url,
        }
    finally:
        for server in made:
            server.close()
