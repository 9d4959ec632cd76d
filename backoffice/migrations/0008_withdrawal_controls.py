"""Withdrawal controls (SPEC §14).

* ``merchant.withdrawal_dual_approval_above`` — requests above it need two operators'
  approvals (null: never);
* ``withdrawal.first_approved_by_id`` / ``first_approved_at`` — the first of those two
  approvals (the request stays ``new`` until the second);
* ``withdrawal.payout_reference`` / ``payout_receipt_type`` — what the deciding
  operator records (the receipt's content type, null when there is none);
* ``withdrawal_receipt`` — the receipt image itself (re-encoded PNG or JPEG).

The new status ``cancelled`` needs no schema change (``status`` is text).
"""
from peewee import *

from backoffice.migrations.stubs import existing_table


def up(migrator, db):
    User = existing_table(db, "user")
    Withdrawal = existing_table(db, "withdrawal")
    migrator.migrate(
        migrator.add_column("merchant", "withdrawal_dual_approval_above",
                            DecimalField(max_digits=18, decimal_places=2, auto_round=True, null=True)),
        migrator.add_column("withdrawal", "first_approved_by_id",
                            ForeignKeyField(User, field=User.id, null=True, on_delete="SET NULL", index=False)),
        migrator.add_column("withdrawal", "first_approved_at", DateTimeField(null=True)),
        migrator.add_column("withdrawal", "payout_reference", CharField(max_length=255, null=True)),
        migrator.add_column("withdrawal", "payout_receipt_type", CharField(max_length=16, null=True)),
    )

    class WithdrawalReceipt(Model):
        withdrawal = ForeignKeyField(Withdrawal, unique=True, on_delete="CASCADE")
        content_type = CharField(max_length=16)
        data = BlobField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "withdrawal_receipt"

    db.create_tables([WithdrawalReceipt])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "withdrawal_receipt"')
    migrator.migrate(
        migrator.drop_column("withdrawal", "payout_receipt_type"),
        migrator.drop_column("withdrawal", "payout_reference"),
        migrator.drop_column("withdrawal", "first_approved_at"),
        migrator.drop_column("withdrawal", "first_approved_by_id"),
        migrator.drop_column("merchant", "withdrawal_dual_approval_above"),
    )
