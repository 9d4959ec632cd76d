"""Shared set-up for the ``ledger verify`` tests: merchants whose books were written by
the services (a deposit activated, a withdrawal requested and one rejected), and the
raw SQL that changes a record behind the application's back."""
from decimal import Decimal

import factories
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

from backoffice.db import db
from backoffice.models import LedgerEntry, Transaction
from backoffice.services import withdrawals
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest


def booked_merchant(name, number):
    """A merchant with 2,650.00 BDT available and 300.00 on hold, all booked by the
    services: a deposit reported and activated (1,000.00, 2.5 % commission), a
    completed deposit from the factories (2,000.00, 25.00 commission), a withdrawal
    requested (300.00) and one requested then rejected (50.00)."""
    bkash = seed_payment_systems()["bkash"]
    m = factories.merchant(name=name)
    factories.merchant_payment_system(m, bkash, min_deposit="500.00", commission="2.50")
    wallet = factories.wallet(m, bkash)
    ingest(Report(payment_system="bkash", wallet_number=wallet.number, transaction_number=f"LV{number}",
                  amount=Decimal("1000.00"), currency="BDT"))
    assert activate(m, "bkash", f"LV{number}", "visitor-1").status == "activated"
    fund(m, bkash, amount="2000.00", commission="25.00", wallet=wallet)
    withdrawals.create_withdrawal(m, bkash, "300.00", "BDT", fields=VALID_FIELDS["bkash"])
    rejected, _ = withdrawals.create_withdrawal(m, bkash, "50.00", "BDT", fields=VALID_FIELDS["bkash"])
    operator = factories.user("operator")
    withdrawals.reject(rejected, operator, "wrong recipient")
    return m


def change_an_entry(merchant, by="1.00"):
    """``UPDATE ledger_entry``: one of the merchant's deposit entries gains ``by``."""
    entry = (LedgerEntry.select().where((LedgerEntry.merchant == merchant.id) & (LedgerEntry.kind == "deposit"))
             .order_by(LedgerEntry.id).first())
    db.execute_sql(f'UPDATE "ledger_entry" SET "amount" = "amount" + {Decimal(by)} WHERE "id" = {int(entry.id)}')
    return entry.id


def change_a_transaction(merchant, by="10.00"):
    """``UPDATE transaction``: one of the merchant's completed deposits gains ``by``."""
    tx = (Transaction.select().where((Transaction.merchant == merchant.id) & (Transaction.status == "activated"))
          .order_by(Transaction.id).first())
    db.execute_sql(f'UPDATE "transaction" SET "amount" = "amount" + {Decimal(by)} WHERE "id" = {int(tx.id)}')
    return tx.id
