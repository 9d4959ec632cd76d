"""Dashboard statistics, the writing side: the rollup (``StatBucket``, ``StatDay``).

``record_*`` keep it up to date inside the transaction of each event (activation,
completed stockpiling, approved withdrawal); ``rebuild`` / ``rebuild_days`` recompute
it. Reading it is ``stats_read``; converting currencies ``conversion``.

How days stay exact in every time zone
--------------------------------------
The rollup keeps sums per 15 minutes of UTC time. Every IANA zone a merchant can
pick is offset from UTC by a whole number of quarter hours (Asia/Kolkata +5:30,
Asia/Kathmandu +5:45, DST shifts included), so each calendar day of any zone is a
whole set of buckets. A chart asks for the buckets between the viewer's local
midnights and adds each bucket to the local day it falls on: exact, whatever the
zone, with no second copy of the data per zone.

What is counted
---------------
Deposits: every activated transaction (``status = 'activated'``), by the date of
its creation, its activation, or the end of its stockpiling (a deposit completed
without stockpiling ends when it is activated). ``complete`` tells whether its
deposit is complete (single deposit, or a completed stockpiling), which the "with
completed stockpiling only" switch selects. Withdrawals: approved withdrawals, by
the date of the request (``created``) or of the decision (``activated`` and
``stockpiling_end`` both mean the decision date for withdrawals).

Merchant users always view in their merchant's zone, and operators in UTC unless
they chose a zone, so ``StatDay`` keeps the same sums per calendar day of the
merchant's zone and of UTC (a few rows a day instead of 96 buckets); a view in any
other zone adds the buckets up per local day.
"""
import datetime
import functools
from collections import defaultdict
from decimal import Decimal

from peewee import SQL, Value, fn

from ..db import db, is_postgres
from ..i18n import zone
from ..models import HELD_POSTBACK_STATUSES, Merchant, StatBucket, StatDay, Transaction, Withdrawal
from ..money import quantize

BUCKET_MINUTES = 15
DATE_KINDS = ("created", "activated", "stockpiling_end")


def bucket_of(moment):
    """The start of the 15-minute UTC bucket a naive-UTC datetime falls in."""
    return moment.replace(minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0)


# --- keeping the rollup -----------------------------------------------------------------

def _local_day(moment, timezone):
    return moment.replace(tzinfo=datetime.timezone.utc).astimezone(zone(timezone)).date()


DAY_ZONE_FOR_EVERYONE = "UTC"  # operators' default zone: their all-merchant view reads days too


def day_zones(merchant_timezone):
    """The zones a merchant's daily sums are kept in: its own, and UTC."""
    return sorted({merchant_timezone, DAY_ZONE_FOR_EVERYONE})


class _Changes:
    """The rollup changes of one event, added up per row and written in two upserts
    (one per table) at the end, instead of one statement per change."""

    def __init__(self, merchant_id, timezone):
        self.merchant_id, self.zones = merchant_id, day_zones(timezone)
        self.buckets, self.days = defaultdict(lambda: [Decimal(0), 0]), defaultdict(lambda: [Decimal(0), 0])

    def add(self, payment_system_id, currency, kind, date_kind, complete, moment, amount, count):
        if moment is None:
            return
        common = (payment_system_id, currency, kind, date_kind, complete)
        keys = [(self.buckets, common + (bucket_of(moment),))]
        keys += [(self.days, common + (tz, _local_day(moment, tz))) for tz in self.zones]
        for table, key in keys:
            table[key][0] += amount
            table[key][1] += count

    def write(self):
        """Two multi-row upserts in plain SQL (this runs on every activation, and
        building the same statement with the query builder cost more than running it);
        on PostgreSQL in one statement (the first as a data-modifying ``WITH``).

        Rows go in key order, so two transactions lock the rows they share in the same
        order and cannot deadlock on them. Callers write their rollups last in their
        transaction: the current bucket is the hottest row of all (every activation of
        the merchant updates it) and stays locked until the commit.
        """
        statements, params = [], []
        for table, rows, last in (("stat_bucket", self.buckets, ("bucket",)),
                                  ("stat_day", self.days, ("timezone", "day"))):
            if not rows:
                continue
            values = []
            for key, (amount, count) in sorted(rows.items()):
                values.extend((self.merchant_id,) + key + (quantize(amount), count))
            width = 1 + len(key) + 2
            statements.append(_upsert_sql(table, last, len(rows), width, db.obj.param))
            params.append(values)
        if len(statements) == 2 and is_postgres():
            db.execute_sql(f"WITH bucket_rows AS ({statements[0]}) {statements[1]}", params[0] + params[1])
            return
        for sql, values in zip(statements, params):
            db.execute_sql(sql, values)


_COLUMNS = ('"merchant_id"', '"payment_system_id"', '"currency"', '"kind"', '"date_kind"', '"complete"')


@functools.lru_cache(maxsize=64)
def _upsert_sql(table, last, rows, width, param):
    columns = _COLUMNS + tuple(f'"{c}"' for c in last) + ('"amount"', '"count"')
    values = ", ".join("(" + ", ".join([param] * width) + ")" for _ in range(rows))
    conflict = ('"merchant_id"', '"kind"', '"date_kind"', '"payment_system_id"', '"currency"', '"complete"') + tuple(
        f'"{c}"' for c in last)
    return (f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES {values} '
            f'ON CONFLICT ({", ".join(conflict)}) DO UPDATE SET '
            f'"amount" = "{table}"."amount" + EXCLUDED."amount", "count" = "{table}"."count" + EXCLUDED."count"')


def record_activation(tx, complete, timezone):
    """A transaction was activated (call inside the activation's transaction).

    ``timezone``: the merchant's, which its daily sums are kept in."""
    changes = _Changes(tx.merchant_id, timezone)
    for date_kind, moment in (("created", tx.created_at), ("activated", tx.activated_at)):
        changes.add(tx.payment_system_id, tx.currency, "deposit", date_kind, complete, moment, tx.amount, 1)
    if complete and tx.stockpiling_id is None:  # a single deposit "ends" when it is activated
        changes.add(tx.payment_system_id, tx.currency, "deposit", "stockpiling_end", True, tx.activated_at,
                    tx.amount, 1)
    changes.write()


def record_stockpiling_completed(members, ended_at, just_activated, timezone):
    """A stockpiling completed (or a deposit held for review was approved): its earlier
    members become complete, all of them end now.

    ``just_activated`` is the member whose activation completed it (recorded by
    ``record_activation`` as complete already); None when every member was recorded
    as incomplete (an approval)."""
    changes = _Changes(members[0].merchant_id, timezone)
    for tx in members:
        if just_activated is None or tx.id != just_activated.id:
            for date_kind, moment in (("created", tx.created_at), ("activated", tx.activated_at)):
                changes.add(tx.payment_system_id, tx.currency, "deposit", date_kind, False, moment, -tx.amount, -1)
                changes.add(tx.payment_system_id, tx.currency, "deposit", date_kind, True, moment, tx.amount, 1)
        changes.add(tx.payment_system_id, tx.currency, "deposit", "stockpiling_end", True, ended_at, tx.amount, 1)
    changes.write()


def record_withdrawal_approved(withdrawal, timezone):
    """A withdrawal was approved (call inside the decision's transaction)."""
    changes = _Changes(withdrawal.merchant_id, timezone)
    for date_kind, moment in (("created", withdrawal.created_at), ("activated", withdrawal.decided_at),
                              ("stockpiling_end", withdrawal.decided_at)):
        changes.add(withdrawal.payment_system_id, withdrawal.currency, "withdrawal", date_kind, True, moment,
                    withdrawal.amount, 1)
    changes.write()


def _bucket_sql(column):
    """SQL for the 15-minute bucket of a timestamp column."""
    if is_postgres():
        return fn.date_trunc("hour", column) + fn.make_interval(
            0, 0, 0, 0, 0, (fn.floor(fn.date_part("minute", column) / BUCKET_MINUTES) * BUCKET_MINUTES).cast("int"))
    return fn.strftime("%Y-%m-%d %H:", column).concat(
        fn.printf("%02d", (fn.strftime("%M", column).cast("integer") / BUCKET_MINUTES) * BUCKET_MINUTES)
    ).concat(":00")


def rebuild():
    """Recompute the whole rollup from the transactions and withdrawals (one statement a
    date kind, inside one transaction). Returns the number of bucket rows."""
    with db.atomic():
        StatBucket.delete().execute()
        # Complete: a single deposit, or a stockpiling that ended; not one held for
        # review (or refused there): those count as activated but incomplete.
        sp_done = (((Transaction.stockpiling.is_null()) | (Transaction.stockpiling_end_at.is_null(False)))
                   & Transaction.postback_status.not_in(HELD_POSTBACK_STATUSES))
        for date_kind, column in (("created", Transaction.created_at), ("activated", Transaction.activated_at),
                                  ("stockpiling_end", fn.COALESCE(Transaction.stockpiling_end_at,
                                                                  Transaction.activated_at))):
            bucket = _bucket_sql(column)
            where = Transaction.status == "activated"
            complete = sp_done
            if date_kind == "stockpiling_end":
                where &= sp_done
            query = (
                Transaction.select(
                    Transaction.merchant, Transaction.payment_system, Transaction.currency,
                    Value("deposit"), Value(date_kind), complete.alias("complete"), bucket.alias("bucket"),
                    fn.SUM(Transaction.amount), fn.COUNT(Transaction.id),
                )
                .where(where)
                .group_by(Transaction.merchant, Transaction.payment_system, Transaction.currency, complete, bucket)
            )
            _insert_from(query)
        for date_kind, column in (("created", Withdrawal.created_at), ("activated", Withdrawal.decided_at),
                                  ("stockpiling_end", Withdrawal.decided_at)):
            bucket = _bucket_sql(column)
            query = (
                Withdrawal.select(
                    Withdrawal.merchant, Withdrawal.payment_system, Withdrawal.currency, Value("withdrawal"),
                    Value(date_kind), Value(True), bucket.alias("bucket"), fn.SUM(Withdrawal.amount),
                    fn.COUNT(Withdrawal.id),
                )
                .where((Withdrawal.status == "approved") & column.is_null(False))
                .group_by(Withdrawal.merchant, Withdrawal.payment_system, Withdrawal.currency, bucket)
            )
            _insert_from(query)
        rebuild_days()
    return StatBucket.select().count()


def rebuild_days(merchant=None):
    """Recompute the daily sums of one merchant (or all) from the buckets, in its
    current time zone and UTC (call it in the transaction that changes a merchant's
    zone)."""
    merchants = [merchant] if merchant is not None else list(Merchant.select())
    with db.atomic():
        for m in merchants:
            StatDay.delete().where(StatDay.merchant == m.id).execute()
            first, last = (StatBucket.select(fn.MIN(StatBucket.bucket), fn.MAX(StatBucket.bucket))
                           .where(StatBucket.merchant == m.id).tuples().get())
            if first is None:
                continue
            first, last = _as_datetime(first), _as_datetime(last)
            sums = defaultdict(lambda: [Decimal(0), 0])
            for zone_name in day_zones(m.timezone):
                _sum_days(m.id, zone_name, first, last, sums)
            rows = [dict(merchant=m.id, payment_system=ps_id, currency=cur, kind=kind, date_kind=date_kind,
                         complete=complete, timezone=zone_name, day=day, amount=quantize(amount), count=count)
                    for (ps_id, cur, kind, date_kind, complete, zone_name, day), (amount, count) in sums.items()]
            for start in range(0, len(rows), 1000):
                StatDay.insert_many(rows[start:start + 1000]).execute()


def _sum_days(merchant_id, zone_name, first, last, sums):
    """Add up one merchant's buckets per day of ``zone_name`` into ``sums``."""
    tz = zone(zone_name)
    for seg_start, seg_end, seconds in offset_segments(first, last + datetime.timedelta(minutes=15), tz):
        local_day = day_sql(StatBucket.bucket, seconds)
        query = (
            StatBucket.select(StatBucket.payment_system, StatBucket.currency, StatBucket.kind, StatBucket.date_kind,
                              StatBucket.complete, local_day, fn.SUM(StatBucket.amount), fn.SUM(StatBucket.count))
            .where((StatBucket.merchant == merchant_id) & (StatBucket.bucket >= seg_start)
                   & (StatBucket.bucket < seg_end))
            .group_by(StatBucket.payment_system, StatBucket.currency, StatBucket.kind, StatBucket.date_kind,
                      StatBucket.complete, local_day)
        )
        for ps_id, cur, kind, date_kind, complete, day, amount, count in query.tuples():
            entry = sums[(ps_id, cur, kind, date_kind, bool(complete), zone_name, as_date(day))]
            entry[0] += Decimal(str(amount))
            entry[1] += int(count)


def _as_datetime(value):
    return datetime.datetime.fromisoformat(value) if isinstance(value, str) else value


def _insert_from(query):
    fields = [StatBucket.merchant, StatBucket.payment_system, StatBucket.currency, StatBucket.kind,
              StatBucket.date_kind, StatBucket.complete, StatBucket.bucket, StatBucket.amount, StatBucket.count]
    StatBucket.insert_from(query, fields).execute()


# --- local days from UTC buckets (rebuild_days here, the dashboard in stats_read) ---------

def offset_segments(start, end, tz):
    """Split [start, end) (naive UTC) into spans where ``tz`` keeps one UTC offset.

    Offsets change (DST) at most a few times a year and always on a quarter hour:
    an hourly scan finds the hour, a 15-minute scan inside it finds the instant."""
    def offset(moment):
        return int(moment.replace(tzinfo=datetime.timezone.utc).astimezone(tz).utcoffset().total_seconds())

    segments, seg_start, current = [], start, offset(start)
    step, hour = datetime.timedelta(minutes=BUCKET_MINUTES), datetime.timedelta(hours=1)
    moment = start
    while moment < end:
        following = min(moment + hour, end)
        if following < end and offset(following) != current or following == end and offset(end - step) != current:
            probe = moment
            while probe < following and offset(probe) == current:
                probe += step
            if probe < following:
                segments.append((seg_start, probe, current))
                seg_start, current = probe, offset(probe)
        moment = following
    segments.append((seg_start, end, current))
    return segments


def day_sql(column, seconds):
    """SQL for the calendar date of ``column`` shifted by ``seconds``."""
    if is_postgres():
        return fn.date(column + SQL(f"interval '{int(seconds)} seconds'")).coerce(False)
    return fn.date(column, f"{int(seconds):+d} seconds").coerce(False)


def as_date(value):
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):  # SQLite hands back text
        return datetime.date.fromisoformat(value[:10])
    return value
