"""Refused origins (issue 22, point 8): the sites that tried to show a merchant's plugin
without being one of its allowed origins.

* ``refused_origin`` — per (merchant, origin): when first and last seen and how often;
  unique per pair (the recording is one upsert), at most a bounded number per merchant.
"""
from peewee import *

from backoffice.migrations.stubs import existing_table


def up(migrator, db):
    Merchant = existing_table(db, "merchant")

    class RefusedOrigin(Model):
        merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
        origin = CharField(max_length=300)
        first_seen = DateTimeField()
        last_seen = DateTimeField()
        count = IntegerField(default=1)

        class Meta:
            database = db
            table_name = "refused_origin"
            indexes = ((("merchant", "origin"), True), (("merchant", "last_seen"), False))

    db.create_tables([RefusedOrigin])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "refused_origin"')
