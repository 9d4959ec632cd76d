"""The balance's index (issue 8, bench/load.py).

A merchant's balance sums its completed deposits; a partial index of exactly those
rows, with the columns summed, lets PostgreSQL answer from the index alone. Written
as SQL: the same statement on SQLite and PostgreSQL (``models.Transaction``).
"""


def up(migrator, db):
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "transaction_completed_deposits" ON "transaction" '
        '("merchant_id", "currency", "amount", "commission") '
        'WHERE ((("status" = \'activated\') AND ("originality" = \'normal\')) AND ("direction" = \'incoming\')) '
        'AND ("postback_status" IN (\'pending\', \'sent\', \'error\'))'
    )


def down(migrator, db):
    db.execute_sql('DROP INDEX IF EXISTS "transaction_completed_deposits"')
