"""What the migration scripts share. Not a migration itself: the runner takes only
the files whose names start with a digit."""
import decimal

from peewee import BooleanField, CharField, DecimalField, ForeignKeyField, IntegerField, Model


def existing_table(db, table_name):
    """A bare model of a table an earlier migration made, for foreign keys to point at."""
    meta = type("Meta", (), {"database": db, "table_name": table_name})
    return type(table_name.title().replace("_", ""), (Model,), {"Meta": meta})


def rollup_table(db, table_name, period_fields, indexes):
    """A dashboard rollup table (``stat_bucket`` in 0002, ``stat_day`` in 0004): the key
    columns both share, then ``period_fields()`` (name -> field, called here so the
    columns keep this order), then the sums."""
    merchant, payment_system = existing_table(db, "merchant"), existing_table(db, "payment_system")
    fields = {
        "merchant": ForeignKeyField(merchant, on_delete="CASCADE", index=False),
        "payment_system": ForeignKeyField(payment_system, index=False),
        "currency": CharField(max_length=3),
        "kind": CharField(max_length=16),
        "date_kind": CharField(max_length=16),
        "complete": BooleanField(),
    }
    fields.update(period_fields())
    fields["amount"] = DecimalField(max_digits=18, decimal_places=2, default=decimal.Decimal("0.00"))
    fields["count"] = IntegerField(default=0)
    fields["Meta"] = type("Meta", (), {"database": db, "table_name": table_name, "indexes": indexes})
    return type(table_name.title().replace("_", ""), (Model,), fields)
