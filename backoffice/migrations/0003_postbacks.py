"""Postback delivery (issue 4): a delivery counter and a lease on the outbox row.

* ``postback.delivery`` — 1 for the first delivery of an event, +1 for every resend
  from the back office (the event id stays the same); attempts restart at 0.
* ``postback.locked_until`` — the lease a worker takes with a conditional UPDATE
  before it sends, so two workers never deliver the same attempt at once; a worker
  that dies leaves a lease that simply runs out, and the outbox drain sends again.
* ``postbackattempt.delivery`` — which delivery an attempt belongs to.
"""
from peewee import DateTimeField, IntegerField


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("postback", "delivery", IntegerField(default=1)),
        migrator.add_column("postback", "locked_until", DateTimeField(null=True)),
        migrator.add_column("postback_attempt", "delivery", IntegerField(default=1)),
    )


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column("postback_attempt", "delivery"),
        migrator.drop_column("postback", "locked_until"),
        migrator.drop_column("postback", "delivery"),
    )
