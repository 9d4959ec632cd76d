"""The running system for bench/faults.py and bench/load.py, and the tools to drive it.

* :class:`Procs` — every child process a bench starts, each in its own process group,
  all killed when the bench exits (normally, on an exception, on Ctrl-C or SIGTERM);
* :class:`RedisServer` — a private ``redis-server`` on its own port (no persistence),
  so killing and restarting it disturbs nobody else's Redis;
* :class:`Receiver` — a real HTTP postback receiver in its own process: it verifies
  every Standard Webhooks signature (the ``standardwebhooks`` library, the merchant's
  secret), records each hit (``webhook-id``, event type, body) and answers 204;
* :class:`WebServer` — gunicorn on ``wsgi:app``; :class:`Workers` — ``backoffice worker``
  processes (SIGKILL and restart them);
* :func:`write_instance_config` — the instance folder's ``config.py`` (the app's own
  settings knobs, e.g. a short postback back-off); :func:`begin_run` — the start every
  stack bench shares (signals, a fresh instance folder with its config and logs);
* :func:`seed_world` — payment systems, merchants (each with one webhook endpoint,
  :func:`point_endpoints` points them at the receiver), wallets, a connector token, an
  operator and owners;
* :class:`Client` — a keep-alive ``http.client`` connection with cookies and the
  back office's sign-in (CSRF token, TOTP for operators);
* :func:`run_fixed_rate` — an open-loop load generator at a fixed rate: every request
  has an intended send time on a fixed schedule and its latency is measured from that
  time, so time spent waiting for a free connection counts (no coordinated omission).
"""
import atexit
import http.client
import http.cookies
import itertools
import json
import logging
import multiprocessing
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


# --- processes -----------------------------------------------------------------------------

class Procs:
    """Children of this bench, each the leader of its own process group."""

    def __init__(self):
        self.items = []
        self.lock = threading.Lock()
        self.closed = False
        atexit.register(self.kill_all)

    def spawn(self, args, **kwargs):
        kwargs.setdefault("start_new_session", True)
        with self.lock:
            if self.closed:  # a thread of the bench tried to (re)start something while it stops
                raise RuntimeError("the bench is stopping: nothing more is started")
            proc = subprocess.Popen(args, **kwargs)
            self.items.append(proc)
        return proc

    @staticmethod
    def signal_group(proc, sig):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, proc, sig=signal.SIGTERM, timeout=15):
        if proc is None:
            return
        if proc.poll() is None:
            self.signal_group(proc, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(proc, signal.SIGKILL)
                proc.wait()
        else:
            self.signal_group(proc, signal.SIGKILL)  # leftovers of its group (a work horse)
        with self.lock:
            if proc in self.items:
                self.items.remove(proc)

    def kill_all(self):
        with self.lock:
            self.closed = True
            items = list(self.items)
        for proc in items:
            if proc.poll() is None:
                self.signal_group(proc, signal.SIGTERM)
        deadline = time.time() + 10
        for proc in items:
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
            self.signal_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        with self.lock:
            self.items.clear()


def exit_on_signals():
    """SIGINT (also when started in the background, where it is ignored), SIGTERM and
    SIGHUP end the bench like Ctrl-C does: the ``finally`` blocks and atexit clean up."""
    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)
    import faulthandler

    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: every thread's stack on stderr


def wait_http(port, path="/healthz", seconds=60, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with {proc.returncode} before answering")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}{path}")


class RedisServer:
    """A private redis-server: no RDB, no AOF, so every restart starts empty."""

    def __init__(self, procs, port, workdir):
        self.procs, self.port, self.dir = procs, port, workdir
        self.proc = None
        self.url = f"redis://127.0.0.1:{port}/0"
        os.makedirs(workdir, exist_ok=True)

    def start(self):
        import redis

        probe = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            probe.ping()
            raise SystemExit(f"something answers on port {self.port} already: choose another --redis-port")
        except redis.exceptions.ConnectionError:
            pass
        self.proc = self.procs.spawn(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--loglevel", "warning", "--logfile", os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                probe.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self, sig=signal.SIGKILL):
        self.procs.stop(self.proc, sig, timeout=5)
        self.proc = None


# --- the postback receiver -----------------------------------------------------------------

def _receiver_main(port_conn, secrets_by_merchant, fail_every, delay):
    """Threaded HTTP server (its own process). POST /m/<merchant_id>: verify, record, 204.

    ``fail_every`` > 0: every n-th hit answers 500 instead (after recording it), to
    exercise the retries. ``delay`` seconds: wait that long (after recording the hit)
    before answering, as a real merchant's server would; a worker killed meanwhile
    leaves a delivery the receiver saw but the database never recorded.
    GET /hits returns every hit as JSON.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks.webhooks import Webhook

    hooks = {str(k): Webhook(v) for k, v in secrets_by_merchant.items()}
    hits = []
    lock = threading.Lock()
    counter = itertools.count(1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self, status, data=b""):
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if data:
                self.wfile.write(data)
            self.close_connection = True

        def do_POST(self):
            now = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            match = re.fullmatch(r"/m/(\d+)", self.path)
            merchant = match.group(1) if match else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            verified, error = False, None
            try:
                hooks[merchant].verify(body, headers)
                verified = True
            except Exception as exc:  # noqa: BLE001 - a bad signature in any form
                error = f"{type(exc).__name__}: {exc}"
            try:
                event_type = json.loads(body).get("type")
            except ValueError:
                event_type = None
            n = next(counter)
            fail = verified and fail_every and n % fail_every == 0
            with lock:
                hits.append({"id": headers.get("webhook-id"), "type": event_type, "merchant": merchant,
                             "verified": verified, "error": error, "body": body.decode("utf-8", "replace"),
                             "at": now, "answered": 500 if fail else (204 if verified else 401)})
            if delay:
                time.sleep(delay)
            self._answer(500 if fail else (204 if verified else 401))

        def do_GET(self):
            if self.path == "/hits":
                with lock:
                    data = json.dumps(hits).encode()
            elif self.path == "/count":
                with lock:
                    data = str(len(hits)).encode()
            else:
                data = b"ok"
            self._answer(200, data)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    port_conn.send(server.server_address[1])
    server.serve_forever()


class Receiver:
    def __init__(self, secrets_by_merchant, fail_every=0, delay=0.0):
        ctx = multiprocessing.get_context("spawn")  # nothing of this process's state
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_receiver_main, args=(child, secrets_by_merchant, fail_every, delay), daemon=True)
        self.proc.start()
        self.port = parent.recv()
        atexit.register(self.stop)

    def url_for(self, merchant_id):
        return f"http://127.0.0.1:{self.port}/m/{merchant_id}"

    def hits(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/hits")
        return json.loads(conn.getresponse().read())

    def count(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/count")
        return int(conn.getresponse().read())

    def stop(self):
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


def start_receiver_with_secrets(merchants, fail_every=0, delay=0.0):
    """A receiver for ``[(merchant_id, endpoint secret), ...]`` (each merchant's endpoint
    posts to ``/m/<merchant_id>``)."""
    return Receiver({str(mid): secret for mid, secret in merchants}, fail_every=fail_every, delay=delay)


# --- the app's processes ---------------------------------------------------------------------

def app_env(database, redis_url, instance, worker_class="simple", extra=None):
    env = dict(
        os.environ,
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        BACKOFFICE_INSTANCE_PATH=instance,
        BACKOFFICE_ALLOW_PRIVATE_POSTBACKS="1",
        BACKOFFICE_WORKER_CLASS=worker_class,
        SECRET_KEY="bench-only",
        SESSION_COOKIE_SECURE="0",
        # The failed-attempt limits would stop a load generator on one address.
        BACKOFFICE_PLUGIN_LIMIT_PER_ADDRESS="1000000 per minute",
        BACKOFFICE_PLUGIN_LIMIT_PER_LABEL="1000000 per minute",
        BACKOFFICE_PLUGIN_LIMIT_PER_NUMBER="1000000 per minute",
        BACKOFFICE_LOGIN_RATE_LIMIT="1000 per minute",
        PYTHONPATH=ROOT,
    )
    env.update(extra or {})
    return env


def write_instance_config(instance, settings):
    """The instance folder's config.py (read by create_app before the environment)."""
    os.makedirs(instance, exist_ok=True)
    with open(os.path.join(instance, "config.py"), "w") as fh:
        fh.write("# Written by bench/harness.py for a benchmark run.\n")
        for key, value in settings.items():
            fh.write(f"{key} = {value!r}\n")


def run_main(main):
    """A bench's ``if __name__ == "__main__"``: Ctrl-C ends it with a word and 130
    (Procs has stopped every process it started by then)."""
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: every process this bench started was stopped", file=sys.stderr)
        sys.exit(130)


def begin_run(database, prefix, settings):
    """What faults.py and load.py do first: refuse a database that is not PostgreSQL,
    turn SIGTERM/SIGHUP into a clean exit, and make a temporary instance folder with
    ``config.py`` (``settings``), ``processes.log`` (returned, open) and ``bench.log``."""
    if not database.startswith("postgresql://"):
        raise SystemExit("--database must be a PostgreSQL URL")
    exit_on_signals()
    instance = tempfile.mkdtemp(prefix=prefix)
    log = open(os.path.join(instance, "processes.log"), "w")
    print(f"instance folder (config.py, logs): {instance}", flush=True)
    logging.basicConfig(filename=os.path.join(instance, "bench.log"), level=logging.WARNING)
    write_instance_config(instance, settings)
    return instance, log


class WebServer:
    def __init__(self, procs, port, env, workers=2, threads=4, log=None):
        self.procs, self.port, self.env = procs, port, env
        self.workers, self.threads, self.log = workers, threads, log
        self.proc = None

    def start(self):
        self.proc = self.procs.spawn(
            [os.path.join(BIN, "gunicorn"), "-w", str(self.workers), "--threads", str(self.threads),
             "-k", "gthread", "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", "--graceful-timeout", "10",
             "--keep-alive", "30", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log)
        wait_http(self.port, proc=self.proc)

    def stop(self, sig=signal.SIGTERM):
        self.procs.stop(self.proc, sig)
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def descendants(pid):
    """Every process below ``pid`` (read from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Workers:
    """``backoffice worker`` processes (each with its webhook delivery dispatcher and its
    cron thread)."""

    def __init__(self, procs, count, env, log=None):
        self.procs, self.env, self.log = procs, env, log
        self.slots = [None] * count
        self.unexpected_exits = 0

    def start_one(self, i):
        self.slots[i] = self.procs.spawn([os.path.join(BIN, "backoffice"), "worker"], cwd=ROOT, env=self.env,
                                         stdout=self.log, stderr=self.log)

    def start(self):
        for i in range(len(self.slots)):
            self.start_one(i)

    def kill(self, i, sig=signal.SIGKILL):
        """Kill worker i with its work horse, if it has one (as a crash of its machine would).

        RQ puts a forking worker's work horse in a process group of its own, so the
        horse is found among the worker's children and signalled too.
        """
        proc = self.slots[i]
        if proc is not None and sig == signal.SIGKILL:
            for pid in descendants(proc.pid):
                try:
                    os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        self.procs.stop(proc, sig, timeout=15)
        self.slots[i] = None

    def supervise(self):
        """Restart any worker that died by itself; how many were restarted."""
        restarted = 0
        for i, proc in enumerate(self.slots):
            if proc is not None and proc.poll() is not None:
                self.unexpected_exits += 1
                self.procs.stop(proc)
                self.start_one(i)
                restarted += 1
        return restarted

    def stop(self):
        for i in range(len(self.slots)):
            self.kill(i, signal.SIGTERM)


# --- data -------------------------------------------------------------------------------------

def init_app_in_process(database, redis_url, instance):
    """The app in this process (seeding, in-process decisions, checks)."""
    os.environ.update(app_env(database, redis_url, instance))
    from backoffice import create_app
    from backoffice.db import apply_migrations

    app = create_app({"PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    apply_migrations()
    return app


UNSET_ENDPOINT_URL = "http://127.0.0.1:9/unset"  # the discard port: nothing listens


def point_endpoints(app, merchants, url_for):
    """Point each seeded merchant's webhook endpoint at ``url_for(merchant_id)``."""
    from backoffice.db import db
    from backoffice.models import WebhookEndpoint

    with app.app_context(), db.connection_context():
        for m in merchants:
            WebhookEndpoint.update(url=url_for(m["id"])).where(WebhookEndpoint.id == m["endpoint_id"]).execute()


def seed_world(app, merchants, postback_url_for=None, password="bench password 1", operator_login=None):
    """Reference data for a bench run; returns a dict the bench can use.

    ``merchants``: ``[(name, delayed_activation, [(code, min_deposit, commission_percent), ...]), ...]``.
    Payment systems come from the demo's list (their withdrawal field schemas too).
    """
    from backoffice.db import db
    from backoffice.demo import PAYMENT_SYSTEMS
    from backoffice.models import (ConnectorToken, Merchant, MerchantPaymentSystem, PaymentSystem, User, Wallet,
                                   WebhookEndpoint)
    from backoffice.security import (new_api_key, new_connector_token, new_postback_secret, new_public_key,
                                     new_totp_secret, token_digest)
    from backoffice.services.accounts import create_user

    world = {"merchants": [], "password": password}
    with app.app_context(), db.connection_context(), db.atomic():
        systems = {}
        for code, name, currency, fields in PAYMENT_SYSTEMS:
            systems[code] = PaymentSystem.get_or_none(PaymentSystem.code == code) or PaymentSystem.create(
                code=code, name=name, currency=currency, withdrawal_fields=fields)
        token = new_connector_token()
        ConnectorToken.create(name="Bench connector", token_hash=token_digest(token), payment_systems=list(systems))
        world["connector_token"] = token
        for index, (name, delayed, ps_specs) in enumerate(merchants):
            m = Merchant.create(name=name, public_key=new_public_key(), api_key=new_api_key(),
                                delayed_activation=delayed, timezone="Asia/Dhaka")
            # One webhook endpoint (SPEC §10); its URL is the receiver's once that runs
            # (point_endpoints), a closed port until then.
            endpoint = WebhookEndpoint.create(
                merchant=m, url=postback_url_for(m.id) if postback_url_for is not None else UNSET_ENDPOINT_URL,
                secret=new_postback_secret(), description="bench receiver")
            entry = {"id": m.id, "name": name, "public_key": m.public_key, "api_key": m.api_key,
                     "postback_secret": endpoint.secret, "endpoint_id": endpoint.id, "delayed_activation": delayed,
                     "systems": []}
            for code, min_deposit, commission in ps_specs:
                ps = systems[code]
                MerchantPaymentSystem.create(merchant=m, payment_system=ps, min_deposit=Decimal(min_deposit),
                                             commission_percent=Decimal(commission))
                numbers = []
                for k in range(2):
                    number = f"7{m.id:03d}{ps.id:02d}{k}{index:02d}"
                    Wallet.create(merchant=m, payment_system=ps, identifier=f"{name}-{code}-{k}", number=number)
                    numbers.append(number)
                entry["systems"].append({"code": code, "currency": ps.currency, "min_deposit": Decimal(min_deposit),
                                         "commission": Decimal(commission), "wallets": numbers})
            owner_login = f"owner{m.id}@bench.example"
            create_user(owner_login, password, "merchant_owner", merchant=m, totp_secret=None)
            entry["owner"] = owner_login
            world["merchants"].append(entry)
        login = operator_login or "operator@bench.example"
        if not User.select().where(User.login == login).exists():
            create_user(login, password, "operator", totp_secret=new_totp_secret())
        operator = User.get(User.login == login)
        world["operator"] = {"id": operator.id, "login": login, "totp_secret": operator.totp_secret}
    return world


WITHDRAWAL_FIELDS = {  # valid fields per the demo's schemas
    "bkash": lambda n: {"recipient_wallet": f"017{n % 100000000:08d}", "recipient_name": "Bench Recipient"},
    "nagad": lambda n: {"recipient_wallet": f"018{n % 100000000:08d}"},
    "paytm": lambda n: {"recipient_wallet": f"9{n % 1000000000:09d}", "recipient_name": "Bench Recipient"},
}


# --- HTTP -------------------------------------------------------------------------------------

class Client:
    """One keep-alive connection; remembers cookies; reconnects after any error."""

    def __init__(self, port, host="127.0.0.1", timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None
        self.cookies = {}

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None):
        """``(status, body_bytes, headers)``; raises OSError / HTTPException on failure."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        send = dict(headers or {})
        if self.cookies and "Cookie" not in send:
            send["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            send.setdefault("Content-Type", "application/json")
        reused = self.conn.sock is not None
        try:
            self.conn.request(method, path, body=body, headers=send)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            stale = isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
            if reused and stale and method == "GET":  # the server closed an idle keep-alive connection
                return self.request(method, path, body, headers)
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for key, morsel in jar.items():
                self.cookies[key] = morsel.value
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return response.status, data, response.headers

    def json(self, method, path, body=None, headers=None):
        status, data, _ = self.request(method, path, body, headers)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, None

    def _csrf(self, path):
        status, data, _ = self.request("GET", path)
        match = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', data) or re.search(
            rb'value="([^"]+)"[^>]*name="csrf_token"', data)
        if not match:
            raise RuntimeError(f"no CSRF token on {path} ({status})")
        return match.group(1).decode()

    def sign_in(self, login, password, totp_secret=None):
        """The back office's sign-in form (and the second factor when the user has one)."""
        form = {"csrf_token": self._csrf("/login"), "login": login, "password": password}
        status, _, headers = self.request("POST", "/login", urllib.parse.urlencode(form),
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        location = headers.get("Location", "")
        if status == 302 and "/login/code" in location:
            import pyotp

            for attempt in range(2):
                code = pyotp.TOTP(totp_secret).now()
                form = {"csrf_token": self._csrf("/login/code"), "code": code}
                status, _, headers = self.request("POST", "/login/code", urllib.parse.urlencode(form),
                                                  {"Content-Type": "application/x-www-form-urlencoded"})
                location = headers.get("Location", "")
                if status == 302 or attempt:
                    break
                time.sleep(30.5 - time.time() % 30)  # this step's code was used already: the next one
        if status != 302 or "/login" in location:
            raise RuntimeError(f"sign-in of {login} failed: {status} {location}")
        return self


# --- the open-loop, fixed-rate generator ----------------------------------------------------------

class Stats:
    """Latencies (ms) and outcomes per endpoint."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency = {}
        self.service = {}
        self.outcomes = {}

    def add(self, name, latency_ms, service_ms, outcome):
        with self.lock:
            self.latency.setdefault(name, []).append(latency_ms)
            self.service.setdefault(name, []).append(service_ms)
            key = (name, outcome)
            self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def count(self, name, outcome, n=1):
        with self.lock:
            key = (name, outcome)
            self.outcomes[key] = self.outcomes.get(key, 0) + n


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-pct * len(sorted_values) // 100)))  # ceil
    return sorted_values[min(rank, len(sorted_values)) - 1]


def run_fixed_rate(port, endpoints, duration, concurrency=32, stats=None, stop_event=None, warmup=0.0):
    """Call each endpoint at its own fixed rate for ``duration`` seconds (open loop).

    ``endpoints``: ``[(name, rate_per_second, call)]``; ``call(client)`` makes one
    request (or one operation) and returns an outcome label. The schedule is fixed
    in advance (the k-th call of an endpoint is due at start + k / rate); a pool of
    ``concurrency`` threads, each with its own keep-alive connection, takes the due
    calls in order. Latency is measured from the intended time, so a call that had
    to wait for a free thread (the server was slow) is charged for the wait.
    Returns ``(stats, elapsed_seconds, late)``; ``late`` counts calls that started
    more than 100 ms after their intended time.
    """
    stats = stats or Stats()
    stop_event = stop_event or threading.Event()
    due = queue.Queue()
    late = [0]
    late_lock = threading.Lock()
    start = time.perf_counter() + 0.2
    schedule = []
    for index, (name, rate, call) in enumerate(endpoints):
        if rate <= 0:
            continue
        period = 1.0 / rate
        offset = period * index / max(1, len(endpoints))  # spread the endpoints' phases
        k = 0
        while offset + k * period < duration:
            schedule.append((start + offset + k * period, name, call))
            k += 1
    schedule.sort(key=lambda item: item[0])

    def dispatcher():
        for intended, name, call in schedule:
            if stop_event.is_set():
                break
            wait = intended - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            due.put((intended, name, call))
        for _ in range(concurrency):
            due.put(None)

    def worker():
        client = Client(port)
        while True:
            item = due.get()
            if item is None:
                break
            intended, name, call = item
            started = time.perf_counter()
            if started - intended > 0.1:
                with late_lock:
                    late[0] += 1
            try:
                outcome = call(client)
            except (OSError, http.client.HTTPException) as exc:
                outcome = f"error:{type(exc).__name__}"
            except Exception as exc:  # noqa: BLE001 - counted, never silent
                outcome = f"exception:{type(exc).__name__}:{exc}"[:120]
            done = time.perf_counter()
            if intended - start >= warmup:
                stats.add(name, (done - intended) * 1000, (done - started) * 1000, outcome)
        client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    feeder = threading.Thread(target=dispatcher, daemon=True)
    feeder.start()
    feeder.join()
    for t in threads:
        t.join()
    return stats, time.perf_counter() - start, late[0]


def format_table(stats, elapsed, names=None, warmup=0.0):
    """Lines: endpoint, requests, throughput, p50, p90, p99, max, outcomes."""
    lines = [f"{'endpoint':22} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
             f"{'max ms':>8}  outcomes"]
    span = max(elapsed - warmup, 1e-9)
    for name in names or sorted(stats.latency):
        values = sorted(stats.latency.get(name, []))
        outcomes = ", ".join(f"{o} {n}" for (e, o), n in sorted(stats.outcomes.items()) if e == name)
        if not values:
            lines.append(f"{name:22} {0:8d}  {outcomes}")
            continue
        lines.append(f"{name:22} {len(values):8d} {len(values) / span:7.1f} {percentile(values, 50):8.1f} "
                     f"{percentile(values, 90):8.1f} {percentile(values, 99):8.1f} {values[-1]:8.1f}  {outcomes}")
    return lines


def start_stack(app, procs, world, args, redis_url, instance, log, **receiver_options):
    """The receiver (each merchant's webhook endpoint pointed at it), gunicorn and the
    workers, as ``args`` (database, web_port, web_workers, web_threads, workers,
    worker_class) say; returns ``(receiver, web, workers)``."""
    receiver = start_receiver_with_secrets([(m["id"], m["postback_secret"]) for m in world["merchants"]],
                                           **receiver_options)
    point_endpoints(app, world["merchants"], receiver.url_for)
    env = app_env(args.database, redis_url, instance, worker_class=args.worker_class)
    web = WebServer(procs, args.web_port, env, args.web_workers, args.web_threads, log=log)
    web.start()
    workers = Workers(procs, args.workers, env, log=log)
    workers.start()
    return receiver, web, workers
