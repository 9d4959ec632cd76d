"""The dashboard's rollup table: sums per 15 minutes of UTC time."""
from peewee import *

from backoffice.migrations.stubs import rollup_table


def up(migrator, db):
    StatBucket = rollup_table(db, "stat_bucket", lambda: {"bucket": DateTimeField()}, indexes=(
        (("merchant", "kind", "date_kind", "bucket", "payment_system", "currency", "complete"), True),
        (("kind", "date_kind", "bucket"), False),
    ))
    db.create_tables([StatBucket])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("stat_bucket"))
