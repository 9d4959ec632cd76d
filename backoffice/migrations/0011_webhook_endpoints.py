"""Webhook endpoints and events (SPEC §10, issue 16).

* ``webhook_endpoint`` — where a merchant's events go (several per merchant, each with
  its filter, secret, rotation grace, failure state and circuit breaker);
* ``event`` — every event, kept for the events API and for recovery;
* ``postback`` becomes one delivery of an event to one endpoint: ``endpoint_id``, and
  the event id is unique per endpoint instead of overall.

Data: each merchant's ``postback_url`` / ``postback_secret`` (and a rotation's previous
secret, still in its grace period) become its first endpoint, which takes over every
postback written so far; each postback so far becomes an event. A pending postback of
a merchant without a URL had nowhere to go: it ends as ``error``. Then the merchant's
four postback columns are dropped (the endpoint holds them now).
"""
from peewee import *

from backoffice.migrations.stubs import existing_table

MERCHANT_COLUMNS = ("postback_url", "postback_secret", "previous_postback_secret", "previous_postback_secret_until")


def up(migrator, db):
    Merchant = existing_table(db, "merchant")

    class WebhookEndpoint(Model):
        merchant = ForeignKeyField(Merchant, on_delete="CASCADE")
        url = CharField(max_length=2000)
        description = CharField(max_length=500, default="")
        event_types = TextField(default="[]")
        enabled = BooleanField(default=True)
        disabled_reason = CharField(max_length=16, null=True)
        disabled_at = DateTimeField(null=True)
        secret = CharField(max_length=200)
        previous_secret = CharField(max_length=200, null=True)
        previous_secret_until = DateTimeField(null=True)
        created_at = DateTimeField()
        failing_since = DateTimeField(null=True)
        last_success_at = DateTimeField(null=True)
        consecutive_failures = IntegerField(default=0)
        circuit_until = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "webhook_endpoint"

    class Event(Model):
        event_id = CharField(max_length=64, unique=True)
        merchant = ForeignKeyField(Merchant, on_delete="CASCADE", index=False)
        event_type = CharField(max_length=32)
        object_type = CharField(max_length=32, null=True)
        object_id = IntegerField(null=True)
        payload = TextField()
        created_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = "event"
            indexes = ((("merchant", "id"), False), (("merchant", "created_at"), False))

    db.create_tables([WebhookEndpoint, Event])
    migrator.migrate(
        migrator.add_column("postback", "endpoint_id", ForeignKeyField(
            WebhookEndpoint, field=WebhookEndpoint.id, null=True, on_delete="CASCADE", index=False)),
    )

    db.execute_sql(
        'INSERT INTO "webhook_endpoint" ("merchant_id", "url", "description", "event_types", "enabled", "secret", '
        '"previous_secret", "previous_secret_until", "created_at", "consecutive_failures") '
        'SELECT "id", "postback_url", %s, %s, %s, "postback_secret", "previous_postback_secret", '
        '"previous_postback_secret_until", "created_at", 0 FROM "merchant" WHERE "postback_url" <> %s'
        .replace("%s", db.param),
        ("Migrated from the postback URL", "[]", True, ""))
    db.execute_sql(
        'INSERT INTO "event" ("event_id", "merchant_id", "event_type", "object_type", "object_id", "payload", '
        '"created_at") SELECT "event_id", "merchant_id", "event_type", "object_type", "object_id", "payload", '
        '"created_at" FROM "postback"')
    db.execute_sql(
        'UPDATE "postback" SET "endpoint_id" = (SELECT "e"."id" FROM "webhook_endpoint" AS "e" '
        'WHERE "e"."merchant_id" = "postback"."merchant_id")')
    # The deposits / withdrawals those postbacks were about said "Sending": now "error".
    orphans = ('SELECT "object_id" FROM "postback" WHERE "endpoint_id" IS NULL AND "status" = \'pending\' '
               'AND "event_type" IN (\'deposit.completed\', \'withdrawal.approved\', \'withdrawal.rejected\', '
               '\'withdrawal.cancelled\') AND "object_type" = ')
    for table, column, object_type in (("transaction", "id", "transaction"),
                                       ("transaction", "stockpiling_id", "stockpiling"),
                                       ("withdrawal", "id", "withdrawal")):
        db.execute_sql(f'UPDATE "{table}" SET "postback_status" = \'error\' WHERE "postback_status" = \'pending\' '
                       f'AND "{column}" IN ({orphans}\'{object_type}\')')
    db.execute_sql(
        'UPDATE "postback" SET "status" = %s, "last_error" = %s, "locked_until" = NULL '
        'WHERE "endpoint_id" IS NULL AND "status" = %s'.replace("%s", db.param),
        ("error", "no postback URL is set", "pending"))

    migrator.migrate(
        migrator.drop_index("postback", "postback_event_id"),
        migrator.add_index("postback", ("event_id", "endpoint_id"), True),
        migrator.add_index("postback", ("endpoint_id", "status", "next_attempt_at"), False),
        migrator.add_index("postback", ("locked_until",), False),
    )
    # The old drain's index. Left in place, PostgreSQL's planner may walk it for the
    # dispatcher's per-endpoint LATERAL once one endpoint holds a big backlog (5 s a
    # round instead of 2 ms, docs/benchmarks.md); the endpoint index serves instead.
    db.execute_sql('DROP INDEX IF EXISTS "postback_status_next_attempt_at"')
    for column in MERCHANT_COLUMNS:  # native DROP COLUMN (SQLite 3.35+, PostgreSQL)
        db.execute_sql(f'ALTER TABLE "merchant" DROP COLUMN "{column}"')


def down(migrator, db):
    migrator.migrate(
        migrator.add_column("merchant", "postback_url", CharField(max_length=2000, default="")),
        migrator.add_column("merchant", "postback_secret", CharField(max_length=200, default="")),
        migrator.add_column("merchant", "previous_postback_secret", CharField(max_length=200, null=True)),
        migrator.add_column("merchant", "previous_postback_secret_until", DateTimeField(null=True)),
    )
    db.execute_sql(
        'UPDATE "merchant" SET "postback_url" = COALESCE((SELECT "url" FROM "webhook_endpoint" AS "e" '
        'WHERE "e"."merchant_id" = "merchant"."id" ORDER BY "e"."id" LIMIT 1), \'\'), '
        '"postback_secret" = COALESCE((SELECT "secret" FROM "webhook_endpoint" AS "e" '
        'WHERE "e"."merchant_id" = "merchant"."id" ORDER BY "e"."id" LIMIT 1), \'\')')
    migrator.migrate(
        migrator.add_index("postback", ("status", "next_attempt_at"), False),
        migrator.drop_index("postback", "postback_locked_until"),
        migrator.drop_index("postback", "postback_endpoint_id_status_next_attempt_at"),
        migrator.drop_index("postback", "postback_event_id_endpoint_id"),
        migrator.drop_column("postback", "endpoint_id"),
    )
    db.execute_sql('DROP TABLE IF EXISTS "event"')
    db.execute_sql('DROP TABLE IF EXISTS "webhook_endpoint"')
