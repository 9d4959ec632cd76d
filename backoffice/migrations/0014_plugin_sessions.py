"""Plugin sessions, the plugin secret and the plugin's default language (SPEC §13, issue 20).

* ``merchant`` gains ``plugin_secret`` (the key of ``data-signature`` v2; each existing
  merchant gets its own random one), the previous secret and until when it still signs
  (rotation with 24 h overlap), and ``plugin_language``;
* ``plugin_session`` — a visitor's session made by the merchant's server (only the
  token's digest is stored).
"""
import secrets

from peewee import *

from backoffice.migrations.stubs import existing_table


def up(migrator, db):
    Merchant = existing_table(db, "merchant")
    migrator.migrate(
        migrator.add_column("merchant", "plugin_secret", CharField(max_length=64, default="")),
        migrator.add_column("merchant", "plugin_secret_previous", CharField(max_length=64, null=True)),
        migrator.add_column("merchant", "plugin_secret_previous_until", DateTimeField(null=True)),
        migrator.add_column("merchant", "plugin_language", CharField(max_length=8, default="en")),
    )
    for (merchant_id,) in db.execute_sql('SELECT "id" FROM "merchant"'):
        db.execute_sql('UPDATE "merchant" SET "plugin_secret" = %s WHERE "id" = %s'.replace("%s", db.param),
                       ("psk_" + secrets.token_urlsafe(32), merchant_id))

    class PluginSession(Model):
        public_id = CharField(max_length=40, unique=True)
        token_digest = CharField(max_length=64, unique=True)
        merchant = ForeignKeyField(Merchant, index=False, on_delete="CASCADE")
        label = CharField(max_length=255)
        order_id = CharField(max_length=255, null=True)
        amount = DecimalField(max_digits=18, decimal_places=2, null=True)
        currency = CharField(max_length=3, null=True)
        payment_systems = TextField(null=True)
        expires_at = DateTimeField(index=True)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "plugin_session"
            indexes = ((("merchant", "created_at"), False),)

    db.create_tables([PluginSession])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "plugin_session"')
    migrator.migrate(*[migrator.drop_column("merchant", name) for name in (
        "plugin_secret", "plugin_secret_previous", "plugin_secret_previous_until", "plugin_language")])
