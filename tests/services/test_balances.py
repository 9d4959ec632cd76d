"""Merchant balance per currency: completed deposits − commission − new/approved withdrawals."""
from decimal import Decimal

import factories
from withdrawal_support import fund

from backoffice.services.ledger import available, balances
from backoffice.services.ledger_verify import verify


def test_only_completed_deposits_count_and_withdrawals_reserve(ctx):
    bdt = factories.payment_system("bkash", "BDT")
    inr = factories.payment_system("paytm", "INR")
    m, other = factories.merchant(), factories.merchant()
    w = factories.wallet(m, bdt)
    for status in ("pending", "sent", "error"):  # completed deposits, whatever the postback did
        factories.transaction(w, amount="100.00", commission=Decimal("2.50"), status="activated",
                              postback_status=status)
    # None of these is a completed deposit:
    factories.transaction(w, amount="1000.00", commission=Decimal("1.00"), status="activated",
                          postback_status="stockpiling")
    factories.transaction(w, amount="1000.00", status="new", postback_status="not_activated")
    factories.transaction(w, amount="1000.00", status="activated", postback_status="sent", originality="fraud")
    factories.transaction(w, amount="1000.00", status="activated", postback_status="sent", direction="outgoing")
    fund(other, bdt, amount="5000.00")  # another merchant's money
    wi = factories.wallet(m, inr, number="9876543210")
    factories.transaction(wi, amount="300.10", commission=Decimal("0.05"), status="activated", postback_status="sent")
    factories.withdrawal(m, bdt, amount="50.00", status="new")
    factories.withdrawal(m, bdt, amount="20.00", status="approved")
    factories.withdrawal(m, bdt, amount="200.00", status="rejected")  # gives the money back

    result = balances(m)

    assert result == {"BDT": Decimal("222.50"), "INR": Decimal("300.05")}  # 300 − 7.50 − 70
    assert all(isinstance(v, Decimal) for v in result.values())
    assert available(m, "BDT") == Decimal("222.50")
    assert available(m, "PKR") == Decimal("0.00")
    assert balances(m, "INR") == {"INR": Decimal("300.05")}
    assert verify() == []  # the Balance rows, the entries and the source records agree


def test_cents_add_up_exactly(ctx):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant()
    w = factories.wallet(m, ps)
    for _ in range(30):
        factories.transaction(w, amount="0.10", commission=Decimal("0.01"), status="activated",
                              postback_status="sent")
    assert available(m, "BDT") == Decimal("2.70")
    assert str(available(m, "BDT")) == "2.70"
