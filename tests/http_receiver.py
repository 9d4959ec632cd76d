"""A real HTTP postback receiver, and a burst of deliveries and RQ jobs, for tests that deliver postbacks."""
import http.server
import threading
import time

import pytest


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request it gets.

    ``script`` is a list of answers used in order (the last one repeats); each is a
    dict with ``status`` (default 200), ``body``, ``headers``, ``delay`` (seconds
    before answering) and ``drip`` (seconds between the bytes of the status line).
    """

    def __init__(self):
        self.requests = []
        self.script = [{"status": 200, "body": b"ok"}]
        self.arrived = threading.Event()
        self.release = threading.Event()  # answers with "stall": True wait for it
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                index = len(receiver.requests)
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "at": time.monotonic()})
                receiver.arrived.set()
                answer = receiver.script[min(index, len(receiver.script) - 1)]
                if answer.get("stall"):
                    receiver.release.wait(60)
                if answer.get("delay"):
                    time.sleep(answer["delay"])
                payload = answer.get("body", b"")
                if answer.get("drip"):
                    try:
                        for byte in f"HTTP/1.1 {answer.get('status', 200)} OK\r\n".encode():
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(answer["drip"])
                    except OSError:
                        pass
                    return
                self.send_response(answer.get("status", 200))
                for name, value in answer.get("headers", {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def run_queued_jobs(app):
    """Send every webhook delivery that is due, then run every queued job of the back
    office's queues (a burst ``SimpleWorker``): what ``backoffice worker --burst`` does."""
    from backoffice.db import db
    from backoffice.jobs.worker import BackofficeSimpleWorker
    from backoffice.queues import queues, redis_connection
    from backoffice.services.postback_delivery import deliver_due

    with app.app_context():
        opened = db.connect(reuse_if_open=True)
        try:
            deliver_due(app.config)
        finally:
            if opened:
                db.close()
        return BackofficeSimpleWorker(queues(app.config), connection=redis_connection(app.config)).work(burst=True)


def redis_of(app):
    """The Redis the app's queues live on (the test's own server)."""
    from backoffice.queues import redis_connection

    return redis_connection(app.config)


@pytest.fixture
def jobs(app):
    """Empty queues for the test, and ``jobs()``: run every job queued so far
    (:func:`run_queued_jobs`)."""
    conn = redis_of(app)
    conn.flushdb()
    yield lambda: run_queued_jobs(app)
    conn.flushdb()


@pytest.fixture
def receiver():
    """A :class:`Receiver` for the test (import the fixture into the test module)."""
    r = Receiver()
    yield r
    r.close()
