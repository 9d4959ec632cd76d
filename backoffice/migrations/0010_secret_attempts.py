"""Throttling every secret check, and the TOTP enrolment secret kept server-side (issue 17).

* ``secret_attempt`` — failed checks of a password, TOTP code, recovery code or reset
  token per (account, address group), with the growing lock-out (``services.accounts``);
* ``user.totp_pending_secret`` / ``totp_pending_ref`` / ``totp_pending_until`` — a
  second factor being enrolled; the session holds only the opaque reference.
"""
from peewee import *


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("user", "totp_pending_secret", CharField(max_length=64, null=True)),
        migrator.add_column("user", "totp_pending_ref", CharField(max_length=64, null=True)),
        migrator.add_column("user", "totp_pending_until", DateTimeField(null=True)),
    )

    class SecretAttempt(Model):
        account = CharField(max_length=254)
        address = CharField(max_length=64)
        failures = IntegerField(default=0)
        last_failed_at = DateTimeField()
        locked_until = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "secret_attempt"
            indexes = ((("account", "address"), True),)

    db.create_tables([SecretAttempt])


def down(migrator, db):
    db.execute_sql('DROP TABLE IF EXISTS "secret_attempt"')
    migrator.migrate(
        migrator.drop_column("user", "totp_pending_until"),
        migrator.drop_column("user", "totp_pending_ref"),
        migrator.drop_column("user", "totp_pending_secret"),
    )
