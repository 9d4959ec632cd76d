"""The ledger (SPEC §9): ``balance`` and ``ledger_entry``, and the history booked
into them in order, so an upgraded database keeps exactly the balances it had."""
from peewee import *

from backoffice.migrations.history import book_history
from backoffice.migrations.stubs import existing_table


def up(migrator, db):
    Merchant = existing_table(db, "merchant")
    User = existing_table(db, "user")
    money = dict(max_digits=18, decimal_places=2, auto_round=True)

    class Balance(Model):
        merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
        currency = CharField(max_length=3)
        available = DecimalField(**money)
        on_hold = DecimalField(**money)
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "balance"
            indexes = ((("merchant", "currency"), True),)

    class LedgerEntry(Model):
        merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
        currency = CharField(max_length=3)
        kind = CharField(max_length=24)
        amount = DecimalField(**money)
        hold = DecimalField(**money)
        available_after = DecimalField(**money)
        on_hold_after = DecimalField(**money)
        source_type = CharField(max_length=16)
        source_id = IntegerField()
        occurrence = IntegerField()
        actor = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL")
        memo = TextField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "ledger_entry"
            indexes = (
                (("source_type", "source_id", "kind", "occurrence"), True),
                (("merchant", "currency", "created_at", "id"), False),
            )

    db.create_tables([Balance, LedgerEntry])
    book_history(db)


def down(migrator, db):
    migrator.migrate(migrator.drop_table("ledger_entry"), migrator.drop_table("balance"))
