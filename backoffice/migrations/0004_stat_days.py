"""Daily sums in each merchant's own time zone (the merchant users' dashboard)."""
from peewee import *

from backoffice.migrations.stubs import rollup_table


def up(migrator, db):
    StatDay = rollup_table(
        db, "stat_day", lambda: {"timezone": CharField(max_length=64), "day": DateField()},
        indexes=((("merchant", "timezone", "kind", "date_kind", "day", "payment_system", "currency", "complete"),
                  True),),
    )
    db.create_tables([StatDay])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("stat_day"))
