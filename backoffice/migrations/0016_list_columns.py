"""Lists people use all day (issue 22, points 1 and 2).

* ``user`` gains ``list_columns``: the columns each user chose to see on each list,
  by screen (JSON text; an empty object: every list shows its default columns);
* ``payment_system`` gains ``country`` (ISO 3166 alpha-2; the dashboard's country
  filter), filled in from the currency where the currency names one country (BDT → BD,
  INR → IN, PKR → PK, NPR → NP, LKR → LK); any other stays empty until an operator
  sets it.
"""
from peewee import *

COUNTRY_OF_CURRENCY = {"BDT": "BD", "INR": "IN", "PKR": "PK", "NPR": "NP", "LKR": "LK"}


def up(migrator, db):
    migrator.migrate(
        migrator.add_column("user", "list_columns", TextField(default="{}")),
        migrator.add_column("payment_system", "country", CharField(max_length=2, null=True)),
    )
    for currency, country in COUNTRY_OF_CURRENCY.items():
        db.execute_sql('UPDATE "payment_system" SET "country" = %s WHERE "currency" = %s'.replace("%s", db.param),
                       (country, currency))


def down(migrator, db):
    migrator.migrate(
        migrator.drop_column("user", "list_columns"),
        migrator.drop_column("payment_system", "country"),
    )
