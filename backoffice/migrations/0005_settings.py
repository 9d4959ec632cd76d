"""Settings and accounts (issue 7).

* ``merchant.previous_postback_secret`` / ``previous_postback_secret_until`` — after a
  rotation the old secret still signs postbacks (next to the new one) until then;
* ``recovery_code`` — second-factor recovery codes, stored as SHA-256 digests, each
  usable once;
* ``password_reset_token`` — the one-time reset links operators hand out (digests).
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("merchant", "previous_postback_secret", CharField(max_length=200, null=True)),
        migrator.add_column("merchant", "previous_postback_secret_until", DateTimeField(null=True)),
    )

    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class RecoveryCode(Model):
        user = ForeignKeyField(User, on_delete="CASCADE")
        code_hash = CharField(max_length=64, unique=True)
        created_at = DateTimeField()
        used_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "recovery_code"

    class PasswordResetToken(Model):
        user = ForeignKeyField(User, on_delete="CASCADE")
        token_hash = CharField(max_length=64, unique=True)
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL", index=False)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "password_reset_token"

    db.create_tables([RecoveryCode, PasswordResetToken])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "password_reset_token"')
    db.execute_sql('DROP TABLE IF EXISTS "recovery_code"')
    migrator.migrate(
        migrator.drop_column("merchant", "previous_postback_secret_until"),
        migrator.drop_column("merchant", "previous_postback_secret"),
    )
