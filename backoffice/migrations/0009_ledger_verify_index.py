"""The latest ledger check, found in one index probe (SPEC §9, ``ledger verify``).

``services.ledger_verify.latest_state`` reads the newest ``ledger.verify`` audit entry
on every back-office page an operator opens (the banner). The audit log grows with
every withdrawal and setting change; a partial index of just the check entries keeps
that read one row, whatever its size. Written as SQL: the same statement on SQLite
and PostgreSQL (``models.AuditLog``).
"""


def up(migrator, db):
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "audit_log_ledger_verify" ON "audit_log" ("created_at", "id") '
        'WHERE ("action" = \'ledger.verify\')'
    )


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "audit_log_ledger_verify"')
