"""Flask extensions, created once and bound to the app in ``create_app``.

Rate limits (issue 17): every limiter keys on ``address_key`` (the client's address,
IPv6 grouped by /64) or on a key built from it and the normalised values validation
accepts; limits that count only some answers (failed sign-ins, failed activations) go
through ``failure_limits``, which takes the count atomically *before* the view runs
and gives it back afterwards when the answer does not count.
"""
import functools
import ipaddress
import time

from flask import after_this_request, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES


def address_group(address):
    """The unit a per-address limit counts: an IPv4 address (an IPv4-mapped IPv6
    address is its IPv4 address), an IPv6 address's /64 (one subscriber's network)."""
    try:
        ip = ipaddress.ip_address((address or "").strip().split("%", 1)[0])
    except ValueError:
        return (address or "").strip()[:64] or "unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def address_key():
    """The key of every per-address limit (the proxy-corrected address, grouped)."""
    return address_group(request.remote_addr)


class AtomicMemoryStorage(MemoryStorage):
    """limits' memory storage reads the counter back after releasing its lock, so two
    racing increments may both see the later value; this one returns its own."""

    def incr(self, key, expiry, amount=1):
        self.get(key)
        self._MemoryStorage__schedule_expiry()
        with self.locks[key]:
            self.storage[key] += amount
            value = self.storage[key]
            if value == amount:
                self.expirations[key] = time.time() + expiry
        return value


class _Limiter(Limiter):
    """Flask-Limiter with atomic in-memory counting (the ``memory://`` storage and the
    in-memory fallback while Redis is away)."""

    def init_app(self, app):
        super().init_app(app)
        if not self.enabled:  # RATELIMIT_ENABLED off: Flask-Limiter set up no storage
            return
        strategy = STRATEGIES[self._strategy]
        if type(self._storage) is MemoryStorage:
            self._storage = AtomicMemoryStorage()
            self._limiter = strategy(self._storage)
        if getattr(self, "_fallback_storage", None) is not None:
            self._fallback_storage = AtomicMemoryStorage()
            self._fallback_limiter = strategy(self._fallback_storage)


babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
# Limits are declared where they apply (login, plugin API); none by default.
limiter = _Limiter(key_func=address_key, default_limits=[])


def failure_limits(*limits, counts, methods=None):
    """Limit the answers for which ``counts(response)`` is true: each of ``limits``
    (``(limit_provider, key_func)``) is hit before the view runs — one atomic increment
    on Redis or in memory, so N concurrent requests against a limit of N… pass exactly N
    — and given back after the view when its answer does not count."""

    def decorate(view):
        @functools.wraps(view)
        def refunding(*args, **kwargs):
            taken = [lim for lim in limiter.current_limits if not lim.breached]

            @after_this_request
            def refund(response):
                if not counts(response):
                    for lim in taken:
                        try:
                            limiter.limiter.storage.incr(lim.key, lim.limit.get_expiry(), amount=-1)
                        except Exception:  # noqa: BLE001 - a refund lost errs on the safe side
                            pass
                return response

            return view(*args, **kwargs)

        wrapped = refunding
        for limit_provider, key_func in reversed(limits):
            wrapped = limiter.limit(limit_provider, key_func=key_func, methods=methods)(wrapped)
        return wrapped

    return decorate
