"""Deposit matching and risk (SPEC §11, issue 18).

* ``matching_policy`` — the operators' default (``merchant_id`` NULL) and each
  merchant's own policy: sender digits, amount, time window, velocity limits, review
  thresholds;
* ``risk_block`` — blocklists of labels, sender wallets and visitor networks;
* ``activation_attempt`` — every activation attempt with its reason code;
* ``deposit_review`` — deposits held for an operator's decision;
* ``pending_activation`` gains what the visitor stated (sender digits, amount) and
  the visitor's network; ``transaction`` gains the connector that reported it.

Data: the default policy asks for the sender's digits (new merchants follow it);
every merchant that exists already gets a policy of its own without that rule, so a
live integration keeps working until an operator turns it on for that merchant.
"""
import datetime
import decimal

from peewee import *

from backoffice.migrations.stubs import existing_table


def _money(**kwargs):
    return DecimalField(max_digits=18, decimal_places=2, **kwargs)


def up(migrator, db):
    Merchant = existing_table(db, "merchant")
    PaymentSystem = existing_table(db, "payment_system")
    User = existing_table(db, "user")
    Transaction = existing_table(db, "transaction")
    Stockpiling = existing_table(db, "stockpiling")
    ConnectorToken = existing_table(db, "connector_token")

    class MatchingPolicy(Model):
        merchant = ForeignKeyField(Merchant, null=True, unique=True, on_delete="CASCADE")
        require_sender = BooleanField(default=True)
        require_amount = BooleanField(default=False)
        amount_tolerance = _money(default=decimal.Decimal("0"))
        window_minutes = IntegerField(null=True)
        velocity_label_hour = IntegerField(null=True)
        velocity_sender_day = IntegerField(null=True)
        review_above = _money(null=True)
        review_first_above = _money(null=True)
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "matching_policy"

    class RiskBlock(Model):
        merchant = ForeignKeyField(Merchant, null=True, index=False, on_delete="CASCADE")
        kind = CharField(max_length=16)
        value = CharField(max_length=255)
        note = CharField(max_length=500, default="")
        created_by = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL")
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "risk_block"
            indexes = ((("kind", "value", "merchant"), False),)

    class ActivationAttempt(Model):
        merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
        payment_system = ForeignKeyField(PaymentSystem, index=False)
        transaction_number = CharField(max_length=100)
        label = CharField(max_length=255, default="")
        network = CharField(max_length=64, default="")
        sender = CharField(max_length=255, null=True)
        transaction = IntegerField(null=True)
        outcome = CharField(max_length=24)
        reason = CharField(max_length=24)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "activation_attempt"
            indexes = (
                (("merchant", "created_at"), False),
                (("merchant", "label", "created_at"), False),
                (("sender", "created_at"), False),
                (("transaction",), False),
                (("transaction_number",), False),
                (("created_at",), False),
            )

    class DepositReview(Model):
        merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
        payment_system = ForeignKeyField(PaymentSystem, index=False)
        transaction = ForeignKeyField(Transaction)
        stockpiling = ForeignKeyField(Stockpiling, null=True, index=False)
        label = CharField(max_length=255)
        amount = _money()
        currency = CharField(max_length=3)
        rule = CharField(max_length=16)
        status = CharField(max_length=16, default="held")
        note = TextField(default="")
        created_at = DateTimeField()
        decided_at = DateTimeField(null=True)
        decided_by = ForeignKeyField(User, null=True, index=False, on_delete="SET NULL")

        class Meta:
            database = db
            table_name = "deposit_review"
            indexes = ((("status", "created_at"), False), (("merchant", "created_at"), False))

    db.create_tables([MatchingPolicy, RiskBlock, ActivationAttempt, DepositReview])
    migrator.migrate(
        migrator.add_column("pending_activation", "sender_last4", CharField(max_length=4, null=True)),
        migrator.add_column("pending_activation", "amount", _money(null=True)),
        migrator.add_column("pending_activation", "network", CharField(max_length=64, default="")),
        migrator.add_column("transaction", "connector_id", ForeignKeyField(
            ConnectorToken, field=ConnectorToken.id, null=True, index=False, on_delete="SET NULL")),
    )
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    MatchingPolicy.insert(merchant=None, require_sender=True, require_amount=False,
                          amount_tolerance=decimal.Decimal("0"), window_minutes=24 * 60, updated_at=now).execute()
    db.execute_sql(
        'INSERT INTO "matching_policy" ("merchant_id", "require_sender", "require_amount", "amount_tolerance", '
        '"window_minutes", "updated_at") SELECT "id", %s, %s, %s, %s, %s FROM "merchant"'.replace("%s", db.param),
        (False, False, decimal.Decimal("0"), 24 * 60, now))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column("transaction", "connector_id"),
        migrator.drop_column("pending_activation", "network"),
        migrator.drop_column("pending_activation", "amount"),
        migrator.drop_column("pending_activation", "sender_last4"),
    )
    for table in ("deposit_review", "activation_attempt", "risk_block", "matching_policy"):
        db.execute_sql(f'DROP TABLE IF EXISTS "{table}"')
