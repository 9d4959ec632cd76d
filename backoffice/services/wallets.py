"""Wallet operations (SPEC §12): limits, pauses, running totals and health.

* **Limits** — a wallet may cap one incoming payment (``max_per_transaction``) and the
  incoming money of a day and of a month (``daily_limit``, ``monthly_limit``; days and
  months in the merchant's time zone). ``paused`` takes it out of the plugin.
* **Totals** — every report of an incoming transaction adds to the wallet's running
  totals of its day and month (:func:`count_report`, in the ingest's own database
  transaction; one ``UPDATE``, so racing reports add up). A total whose day or month
  is not the current one reads as 0: nothing resets them at midnight.
* **Choice** — :func:`choose` picks the wallet the plugin shows: never a paused one,
  never one the visitor's amount (when known) would push over a limit, never one with
  no headroom left; among the rest the one with the most headroom (a wallet without
  limits has the most), ties broken by a stable hash of the visitor's label, so a
  visitor keeps seeing the same wallet while nothing changes.
* **Health** — the plugin stamps the wallets it shows (:func:`mark_offered`, at most
  once a minute per wallet); a report clears the stamp. A wallet shown within the
  silence window (``WALLET_SILENT_MINUTES``, 30) whose first unanswered showing is
  older than the window is **silent**: visitors may be paying into a phone nobody
  watches. :func:`pause_silent` (a periodic job) pauses the silent wallets whose
  operator chose ``auto_pause`` (``paused_reason`` "silent"); the next report lifts
  exactly that pause, never an operator's.
* **Operators' changes** — :func:`update` sets limits and pause on one wallet or many
  (bulk), audited.

Plain functions; the plugin, ingest, the Wallets screen and the jobs call them.
"""
import datetime
import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from peewee import Case, Cast, fn

from ..db import CompiledQuery, Slot, is_postgres, write_transaction
from ..errors import FieldError
from ..i18n import zone
from ..models import Merchant, Wallet, utcnow
from . import audit

SILENT_MINUTES = 30
OFFER_STAMP_EVERY = datetime.timedelta(seconds=60)
ZERO = Decimal("0.00")
LIMIT_FIELDS = ("max_per_transaction", "daily_limit", "monthly_limit")


def silent_window(config):
    minutes = int(config.get("WALLET_SILENT_MINUTES", SILENT_MINUTES) or SILENT_MINUTES)
    return datetime.timedelta(minutes=max(minutes, 1))


def local_day(timezone_name, now=None):
    """Today (a date) in the zone named ``timezone_name``."""
    now = now or utcnow()
    return now.replace(tzinfo=datetime.timezone.utc).astimezone(zone(timezone_name or "UTC")).date()


@dataclass
class Usage:
    """A wallet's totals as of ``today`` (the merchant's day) and its headroom."""
    today: Decimal
    month: Decimal
    headroom: Decimal  # None: no daily or monthly limit

    def fits(self, wallet, amount=None):
        if amount is not None and wallet.max_per_transaction is not None and amount > wallet.max_per_transaction:
            return False
        if self.headroom is None:
            return True
        return self.headroom >= amount if amount is not None else self.headroom > 0


def usage(wallet, today):
    """``wallet``'s totals for ``today`` (a date of the merchant's zone) and its headroom."""
    day = wallet.day_total if wallet.day_start == today else ZERO
    month = wallet.month_total if wallet.month_start == today.replace(day=1) else ZERO
    rooms = []
    if wallet.daily_limit is not None:
        rooms.append(wallet.daily_limit - day)
    if wallet.monthly_limit is not None:
        rooms.append(wallet.monthly_limit - month)
    return Usage(day, month, min(rooms) if rooms else None)


def _tiebreak(label):
    if label:
        return int.from_bytes(hashlib.sha256(str(label).encode()).digest()[:8], "big")
    return random.getrandbits(64)


def choose(wallets, today, label=None, amount=None):
    """The wallet to show a visitor among ``wallets`` (one merchant's, one payment
    system's), or None when none may take the payment (see the module's rules)."""
    eligible = []
    for wallet in wallets:
        if not wallet.active or wallet.paused:
            continue
        use = usage(wallet, today)
        if use.fits(wallet, amount):
            eligible.append((wallet, use.headroom))
    return pick(eligible, label)


def pick(eligible, label=None):
    """Among ``(wallet, headroom)`` pairs that may all take the payment: a wallet without
    limits first, else the most headroom; ties by the label's stable hash. None if empty."""
    if not eligible:
        return None
    unlimited = [w for w, room in eligible if room is None]
    if unlimited:
        best = unlimited
    else:
        most = max(room for _w, room in eligible)
        best = [w for w, room in eligible if room == most]
    best.sort(key=lambda w: w.id)
    return best[_tiebreak(label) % len(best)]


def _headroom_sql():
    """:func:`usage`'s headroom as SQL (NULL: no daily or monthly limit)."""
    day = Case(None, ((Wallet.day_start == Slot("today", Wallet.day_start), Wallet.day_total),), 0)
    month = Case(None, ((Wallet.month_start == Slot("month", Wallet.month_start), Wallet.month_total),), 0)
    room_day, room_month = Wallet.daily_limit - day, Wallet.monthly_limit - month
    return Case(None, ((Wallet.daily_limit.is_null(), room_month), (Wallet.monthly_limit.is_null(), room_day),
                       (room_day < room_month, room_day)), room_month)


def _eligible_query(with_amount):
    headroom = _headroom_sql()
    where = (Wallet.merchant == Slot("merchant")) & (Wallet.active == True) & (Wallet.paused == False)  # noqa: E712
    if with_amount:
        # Typed in the SQL: SQLite would compare a computed number with the bound
        # Decimal (text there) as text.
        amount = Cast(Slot("amount", Wallet.daily_limit), "NUMERIC")
        where &= ((Wallet.max_per_transaction.is_null() | (Wallet.max_per_transaction >= amount))
                  & (headroom.is_null() | (headroom >= amount)))
    else:
        where &= headroom.is_null() | (headroom > 0)
    return Wallet.select(Wallet.id, Wallet.payment_system, Wallet.number, Wallet.last_offered_at,
                         headroom.alias("headroom")).where(where)


# The plugin's hot path: the eligibility test of :func:`choose` done by the database,
# returning only the wallets that may take the payment and the five columns the choice
# needs (reading every column of 200 wallets into models cost 1.5-1.7x the answer).
_ELIGIBLE = {False: CompiledQuery(lambda: _eligible_query(False)),
             True: CompiledQuery(lambda: _eligible_query(True))}


def eligible_by_system(merchant_id, today, amount=None):
    """``{payment_system_id: [(wallet, headroom), …]}``: the merchant's wallets that may
    take a payment today (of ``amount`` when known), as :func:`choose` judges them;
    ``wallet`` carries ``id``, ``payment_system_id``, ``number`` and ``last_offered_at``."""
    values = dict(merchant=merchant_id, today=today, month=today.replace(day=1))
    if amount is not None:
        values["amount"] = amount
    out = {}
    for wallet in _ELIGIBLE[amount is not None].rows(**values):
        room = wallet.headroom
        room = None if room is None else Decimal(str(room)).quantize(ZERO)
        out.setdefault(wallet.payment_system_id, []).append((wallet, room))
    return out


def mark_offered(wallets, now=None):
    """The plugin showed ``wallets``: stamp them (one ``UPDATE``, skipped when every
    one was stamped within the last minute)."""
    now = now or utcnow()
    due = [w.id for w in wallets if w.last_offered_at is None or w.last_offered_at <= now - OFFER_STAMP_EVERY]
    if not due:
        return 0
    return (Wallet.update(last_offered_at=now, offered_since=fn.COALESCE(Wallet.offered_since, now))
            .where(Wallet.id.in_(due)).execute())


def count_report(wallet, merchant_timezone, amount, direction, occurred_at, now=None):
    """A transaction was reported for ``wallet``: add an incoming one to the totals of
    its day and month (the merchant's zone; a late report of an earlier day counts in
    its month, not in today), note the report and lift a pause for silence. One
    ``UPDATE``; call it inside the ingest's database transaction."""
    now = now or utcnow()
    # A report stamped ahead of our clock (a connector's clock running fast) counts
    # today: a day of tomorrow would make today's totals read 0 until midnight.
    day = min(local_day(merchant_timezone, occurred_at or now), local_day(merchant_timezone, now))
    month = day.replace(day=1)
    amount = amount if direction == "incoming" else ZERO
    newer_day = Wallet.day_start.is_null() | (Wallet.day_start < day)
    newer_month = Wallet.month_start.is_null() | (Wallet.month_start < month)
    silent_pause = Wallet.paused_reason == "silent"
    return Wallet.update(
        day_total=Case(None, ((newer_day, amount), (Wallet.day_start == day, Wallet.day_total + amount)),
                       Wallet.day_total),
        day_start=Case(None, ((newer_day, day),), Wallet.day_start),
        month_total=Case(None, ((newer_month, amount), (Wallet.month_start == month, Wallet.month_total + amount)),
                         Wallet.month_total),
        month_start=Case(None, ((newer_month, month),), Wallet.month_start),
        last_report_at=now,
        offered_since=None,
        paused=Case(None, ((silent_pause, False),), Wallet.paused),
        paused_reason=Case(None, ((silent_pause, None),), Wallet.paused_reason),
    ).where(Wallet.id == getattr(wallet, "id", wallet)).execute()


def is_silent(wallet, now, window):
    """Shown within the window, and its first unanswered showing older than the window."""
    return (wallet.offered_since is not None and wallet.last_offered_at is not None
            and wallet.offered_since <= now - window and wallet.last_offered_at >= now - window)


def silent_condition(now, window):
    """:func:`is_silent` as a SQL condition on ``Wallet``."""
    return ((Wallet.offered_since <= now - window) & (Wallet.last_offered_at >= now - window))


STATES = ("ok", "paused", "paused_silent", "silent", "at_limit", "inactive")


@dataclass
class Health:
    """What the Wallets screen and the dashboard show of one wallet."""
    state: str  # ok | paused | paused_silent | silent | at_limit | inactive
    usage: Usage
    silent: bool

    @property
    def needs_attention(self):
        return self.state in ("silent", "paused_silent", "at_limit")


def health(wallet, timezone_name, now, window):
    today = local_day(timezone_name, now)
    use = usage(wallet, today)
    silent = is_silent(wallet, now, window)
    if not wallet.active:
        state = "inactive"
    elif wallet.paused:
        state = "paused_silent" if wallet.paused_reason == "silent" else "paused"
    elif silent:
        state = "silent"
    elif use.headroom is not None and use.headroom <= 0:
        state = "at_limit"
    else:
        state = "ok"
    return Health(state, use, silent)


def attention_condition(now, window):
    """The wallets that need an operator (silent, paused for silence, or at a daily or
    monthly limit today in their merchant's zone), as a SQL condition on ``Wallet``
    joined to ``Merchant``. One branch per time zone in use (a handful)."""
    at_limit = None
    zones = [row[0] for row in Merchant.select(Merchant.timezone).distinct().tuples()]
    for name in zones:
        today = local_day(name, now)
        month = today.replace(day=1)
        cond = (Merchant.timezone == name) & (
            ((Wallet.day_start == today) & Wallet.daily_limit.is_null(False)
             & (Wallet.day_total >= Wallet.daily_limit))
            | ((Wallet.month_start == month) & Wallet.monthly_limit.is_null(False)
               & (Wallet.month_total >= Wallet.monthly_limit)))
        at_limit = cond if at_limit is None else (at_limit | cond)
    # As health() says it: an operator's pause is not "silent".
    silent = (silent_condition(now, window) & (Wallet.paused == False)) | (Wallet.paused_reason == "silent")  # noqa: E712
    cond = (Wallet.active == True) & silent  # noqa: E712
    if at_limit is not None:
        cond = cond | ((Wallet.active == True) & (Wallet.paused == False) & at_limit)  # noqa: E712
    return cond


def sql_not(condition):
    """NOT ``condition``, where a NULL in it counts as false (SQL's NOT NULL is NULL)."""
    return Case(None, ((condition, 1),), 0) == 0


def state_condition(state, now, window):
    """The wallets in ``state`` (as :func:`health` decides it), as a SQL condition on
    ``Wallet`` joined to ``Merchant`` (the Wallets screen's state filter)."""
    active, paused = Wallet.active == True, Wallet.paused == True  # noqa: E712
    silent = silent_condition(now, window)
    if state not in STATES:
        raise ValueError(state)
    if state == "inactive":
        return Wallet.active == False  # noqa: E712
    if state == "paused_silent":
        return active & paused & (Wallet.paused_reason == "silent")
    if state == "paused":
        return active & paused & sql_not(Wallet.paused_reason == "silent")
    running = active & (Wallet.paused == False)  # noqa: E712
    if state == "silent":
        return running & silent
    attention = attention_condition(now, window)
    if state == "at_limit":  # needs attention, running and not silent: at a limit
        return running & sql_not(silent) & attention
    return running & sql_not(silent) & sql_not(attention)  # ok


def attention_count(now, window, merchant_id=None):
    query = Wallet.select(fn.COUNT(Wallet.id)).join(Merchant).where(attention_condition(now, window))
    if merchant_id is not None:
        query = query.where(Wallet.merchant == merchant_id)
    return query.scalar() or 0


def pause_silent(window, now=None):
    """Pause the silent wallets whose operator chose ``auto_pause``; how many."""
    now = now or utcnow()
    with write_transaction():
        ids = [w.id for w in Wallet.select(Wallet.id).where(
            (Wallet.auto_pause == True) & (Wallet.paused == False) & (Wallet.active == True)  # noqa: E712
            & silent_condition(now, window))]
        if not ids:
            return 0
        # Judged again by the UPDATE itself: a report between the SELECT and here
        # (PostgreSQL: it committed meanwhile) leaves its wallet alone.
        count = (Wallet.update(paused=True, paused_reason="silent")
                 .where(Wallet.id.in_(ids) & (Wallet.auto_pause == True) & (Wallet.paused == False)  # noqa: E712
                        & (Wallet.active == True) & silent_condition(now, window)).execute())  # noqa: E712
        minutes = int(window.total_seconds() // 60)
        for wallet in Wallet.select().where(Wallet.id.in_(ids) & (Wallet.paused_reason == "silent")):
            audit.record(None, "wallet.paused_silent", wallet, summary={"wallet": wallet.number,
                                                                        "silent_minutes": minutes})
    return count


class WalletChangeError(FieldError):
    """A wallet change refused for one field."""


def _check_limits(values):
    for name in LIMIT_FIELDS:
        if name in values and values[name] is not None:
            value = values[name]
            if not isinstance(value, Decimal) or value <= 0:
                raise WalletChangeError(name, _("must be an amount greater than zero"))
    daily, monthly = values.get("daily_limit"), values.get("monthly_limit")
    if daily is not None and monthly is not None and daily > monthly:
        raise WalletChangeError("daily_limit", _("The daily limit cannot exceed the monthly limit."))


CHANGEABLE = LIMIT_FIELDS + ("paused", "auto_pause")


def update(wallet_ids, values, actor, ip=""):
    """Set ``values`` (limits: a Decimal or None; ``paused``, ``auto_pause``: bool) on
    each wallet of ``wallet_ids``, audited with each change; how many changed. A pause
    or an un-pause set here is the operator's (``paused_reason`` "manual" or none)."""
    unknown = set(values) - set(CHANGEABLE)
    if unknown:
        raise WalletChangeError(sorted(unknown)[0], _("cannot be changed here"))
    changed = 0
    with write_transaction():
        query = Wallet.select().where(Wallet.id.in_(list(wallet_ids))).order_by(Wallet.id)
        for wallet in (query.for_update() if is_postgres() else query):
            merged = {name: values.get(name, getattr(wallet, name)) for name in LIMIT_FIELDS}
            _check_limits(merged)
            diff = {}
            for name, value in values.items():
                if getattr(wallet, name) != value:
                    diff[name] = {"before": _plain(getattr(wallet, name)), "after": _plain(value)}
                    setattr(wallet, name, value)
            if values.get("paused") is True and wallet.paused_reason == "silent":
                # Paused for silence, now paused by the operator: a report no longer lifts it.
                diff["paused_reason"] = {"before": "silent", "after": "manual"}
            if "paused" in diff or "paused_reason" in diff:
                wallet.paused_reason = "manual" if wallet.paused else None
            if diff:
                wallet.save(only=[getattr(Wallet, name) for name in values] + [Wallet.paused_reason])
                audit.record(actor, "wallet.update", wallet, summary=dict(diff, wallet=wallet.number), ip=ip)
                changed += 1
    return changed


def _plain(value):
    return str(value) if isinstance(value, Decimal) else value
