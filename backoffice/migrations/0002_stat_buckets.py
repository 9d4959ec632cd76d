"""The dashboard's rollup table: sums per 15 minutes of UTC time."""
import decimal

from peewee import *


def up(migrator, db):
    class Merchant(Model):
        class Meta:
            database = db
            table_name = "merchant"

    class PaymentSystem(Model):
        class Meta:
            database = db
            table_name = "payment_system"

    class StatBucket(Model):
        merchant = ForeignKeyField(Merchant, on_delete="CASCADE", index=False)
        payment_system = ForeignKeyField(PaymentSystem, index=False)
        currency = CharField(max_length=3)
        kind = CharField(max_length=16)
        date_kind = CharField(max_length=16)
        complete = BooleanField()
        bucket = DateTimeField()
        amount = DecimalField(max_digits=18, decimal_places=2, default=decimal.Decimal("0.00"))
        count = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "stat_bucket"
            indexes = (
                (("merchant", "kind", "date_kind", "bucket", "payment_system", "currency", "complete"), True),
                (("kind", "date_kind", "bucket"), False),
            )

    db.create_tables([StatBucket])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("stat_bucket"))
