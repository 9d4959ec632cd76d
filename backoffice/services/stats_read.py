"""Dashboard statistics, the reading side: the numbers behind the charts (SPEC §4, §6
``stats.json``), added up from the rollup that ``stats_rollup`` keeps (its docstring
says how days stay exact in every time zone and what is counted).

Merchant users view in their merchant's zone and operators in UTC unless they chose
a zone: those days are read from ``StatDay``; a view in any other zone adds the
15-minute buckets up per local day.

Currency conversion uses the rate in force on each day shown (the viewer's local
day; the latest ``ExchangeRate`` on or before it), through USD.
"""
import datetime
import functools
from collections import defaultdict
from decimal import Decimal

from peewee import fn

from ..models import Merchant, PaymentSystem, StatBucket, StatDay
from ..money import quantize, to_str
from ..timeutil import local_midnight_utc
from .conversion import Rates
from .stats_rollup import DATE_KINDS, DAY_ZONE_FOR_EVERYONE, as_date, day_sql, offset_segments

def _days(date_from, date_to):
    return [date_from + datetime.timedelta(days=i) for i in range((date_to - date_from).days + 1)]


def _filtered(query, model, merchant_id, currency, completed_only, payment_systems=None):
    if merchant_id is not None:
        query = query.where(model.merchant == merchant_id)
    if payment_systems is not None:  # a country's payment systems (issue 22)
        query = query.where(model.payment_system.in_(payment_systems or [0]))
    if currency:
        query = query.where(model.currency == currency)
    if completed_only:
        query = query.where(model.complete == True)  # noqa: E712 - SQL comparison
    return query


def _bucket_rows(kind, merchant_id, date_kind, days, tz, currency, completed_only, payment_systems=None):
    """Sums per (local day, payment system, currency), added up in the database from the
    buckets: a few rows a day, exact in any zone."""
    start = local_midnight_utc(days[0], tz)
    end = local_midnight_utc(days[-1] + datetime.timedelta(days=1), tz)
    for seg_start, seg_end, seconds in offset_segments(start, end, tz):
        local_day = day_sql(StatBucket.bucket, seconds)
        query = (
            StatBucket.select(local_day, StatBucket.payment_system, StatBucket.currency,
                              fn.SUM(StatBucket.amount), fn.SUM(StatBucket.count))
            .where((StatBucket.kind == kind) & (StatBucket.date_kind == date_kind)
                   & (StatBucket.bucket >= seg_start) & (StatBucket.bucket < seg_end))
            .group_by(local_day, StatBucket.payment_system, StatBucket.currency)
        )
        yield from _filtered(query, StatBucket, merchant_id, currency, completed_only, payment_systems).tuples()


def _day_rows(kind, merchant_id, date_kind, days, tz, currency, completed_only, payment_systems=None):
    """The same, from the merchant's daily sums (its users view in its own zone)."""
    query = (
        StatDay.select(StatDay.day, StatDay.payment_system, StatDay.currency, fn.SUM(StatDay.amount),
                       fn.SUM(StatDay.count))
        .where((StatDay.timezone == tz.key) & (StatDay.kind == kind) & (StatDay.date_kind == date_kind)
               & (StatDay.day >= days[0]) & (StatDay.day <= days[-1]))
        .group_by(StatDay.day, StatDay.payment_system, StatDay.currency)
    )
    return _filtered(query, StatDay, merchant_id, currency, completed_only, payment_systems).tuples()


def _row_source(merchant_id, tz):
    """Daily sums when they are kept for the viewer's zone (the merchant's own, or UTC
    for everyone); otherwise the buckets, added up per local day. Chosen once a request."""
    zones = {DAY_ZONE_FOR_EVERYONE}
    if merchant_id is not None:
        zones.add(Merchant.select(Merchant.timezone).where(Merchant.id == merchant_id).scalar())
    return _day_rows if tz.key in zones else _bucket_rows


def _series(kind, merchant_id, days, tz, date_kind, currency, display_in, details, completed_only, rates,
            missing, source):
    index = {d: i for i, d in enumerate(days)}
    per_ps = {}  # payment system id -> {"amount": [...], "count": [...], "currency"}
    display_rate_cache = {}
    for local_day, ps_id, cur, amount, count in source(kind, merchant_id, date_kind, days, tz, currency,
                                                      completed_only):
        local_day = as_date(local_day)
        i = index.get(local_day)
        if i is None:
            continue
        amount = Decimal(str(amount))
        if not details:
            key = (cur, local_day)
            factor = display_rate_cache.get(key)
            if factor is None:
                src, dst = rates.to_usd(cur, local_day), rates.to_usd(display_in, local_day)
                if src is None or dst is None:
                    missing.add(cur if src is None else display_in)
                    continue
                factor = display_rate_cache[key] = src / dst
            amount = amount * factor
        entry = per_ps.setdefault(ps_id, {"amount": [Decimal(0)] * len(days), "count": [0] * len(days),
                                          "currency": cur})
        entry["amount"][i] += amount
        entry["count"][i] += int(count)
    names = {ps.id: ps for ps in PaymentSystem.select().where(PaymentSystem.id.in_(list(per_ps) or [0]))}
    series = []
    for ps_id, entry in sorted(per_ps.items(), key=lambda kv: names[kv[0]].code):
        ps = names[ps_id]
        series.append({
            "payment_system": ps.code, "name": ps.name,
            "currency": entry["currency"] if details else display_in,
            "amount": [to_str(quantize(a)) for a in entry["amount"]], "count": entry["count"],
        })
    totals = defaultdict(lambda: {"amount": [Decimal(0)] * len(days), "count": [0] * len(days)})
    for s in series:
        t = totals[s["currency"]]
        for i in range(len(days)):
            t["amount"][i] += Decimal(s["amount"][i])
            t["count"][i] += s["count"][i]
    total = [{"currency": cur, "amount": [to_str(a) for a in t["amount"]], "count": t["count"]}
             for cur, t in sorted(totals.items())]
    return {"series": series, "total": total}


def _sum_total(block):
    """Per currency: the amount and count over all days of a block's totals."""
    return [{"currency": t["currency"], "amount": to_str(sum((Decimal(a) for a in t["amount"]), Decimal(0))),
             "count": sum(t["count"])} for t in block["total"]]


def country_payment_systems(country):
    """The ids of the payment systems that serve ``country`` (ISO 3166 alpha-2)."""
    return [ps_id for (ps_id,) in PaymentSystem.select(PaymentSystem.id).where(PaymentSystem.country == country)
            .tuples()]


def countries():
    """The countries payment systems serve (their codes, sorted)."""
    return sorted(code for (code,) in PaymentSystem.select(PaymentSystem.country).distinct()
                  .where(PaymentSystem.country.is_null(False)).tuples() if code)


def dashboard(merchant_id, date_from, date_to, tz, today, currency=None, display_in="USD", group_by="created",
              details=False, completed_stockpiling=False, country=None):
    """The numbers behind the dashboard (SPEC §4, §6 ``stats.json``).

    ``merchant_id`` None means every merchant (operators). ``tz`` is a ZoneInfo;
    ``date_from``/``date_to``/``today`` are the viewer's local dates. ``country``: only
    the payment systems that serve it (None: all).
    """
    if group_by not in DATE_KINDS:
        raise ValueError("group_by")
    days = _days(date_from, date_to)
    currencies = {r[0] for r in PaymentSystem.select(PaymentSystem.currency).distinct().tuples()} | {display_in}
    rates = Rates(currencies)
    missing = set()
    source = _row_source(merchant_id, tz)
    if country:
        source = functools.partial(source, payment_systems=country_payment_systems(country))
    args = (tz, group_by, currency, display_in, details, completed_stockpiling, rates, missing, source)
    deposits = _series("deposit", merchant_id, days, *args)
    withdrawals = _series("withdrawal", merchant_id, days, *args)
    today_block = _series("deposit", merchant_id, [today], *args)
    return {
        "date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "timezone": tz.key,
        "display_in": None if details else display_in, "group_by": group_by, "details": bool(details),
        "completed_stockpiling": bool(completed_stockpiling), "currency": currency, "country": country,
        "days": [d.isoformat() for d in days],
        "summary": {"period": _sum_total(deposits), "today": _sum_total(today_block),
                    "withdrawals_period": _sum_total(withdrawals)},
        "deposits": deposits,
        "withdrawals": withdrawals,
        "missing_rates": sorted(missing),
    }
