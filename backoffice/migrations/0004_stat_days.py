"""Daily sums in each merchant's own time zone (the merchant users' dashboard)."""
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

    class StatDay(Model):
        merchant = ForeignKeyField(Merchant, on_delete="CASCADE", index=False)
        payment_system = ForeignKeyField(PaymentSystem, index=False)
        currency = CharField(max_length=3)
        kind = CharField(max_length=16)
        date_kind = CharField(max_length=16)
        complete = BooleanField()
        timezone = CharField(max_length=64)
        day = DateField()
        amount = DecimalField(max_digits=18, decimal_places=2, default=decimal.Decimal("0.00"))
        count = IntegerField(default=0)

        class Meta:
            database = db
            table_name = "stat_day"
            indexes = (
                (("merchant", "timezone", "kind", "date_kind", "day", "payment_system", "currency", "complete"),
                 True),
            )

    db.create_tables([StatDay])


def down(migrator, db):
    migrator.migrate(migrator.drop_table("stat_day"))
