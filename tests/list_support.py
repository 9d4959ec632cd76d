"""A back office with a row of two merchants in every list (issue 22, points 1 and 2):
what the list tests walk, in the test client and in the browser.

Realistic values and lengths (the demo's): labels, order ids, wallet numbers, URLs,
errors, audit sentences, so a list that fits here fits a real day's list."""
import datetime
from decimal import Decimal

import factories
from backoffice.db import db
from backoffice.models import (ActivationAttempt, Appeal, AuditLog, DepositReview, PaymentSystem, PendingActivation,
                               Postback, utcnow)

# Every list of the back office a signed-in user opens, by role (the model lists by
# endpoint; the lists drawn by hand by their URL).
OPERATOR_LISTS = ("transactions", "attempts", "withdrawals", "merchants", "users", "wallets", "payment_systems",
                  "merchant_payment_systems", "connector_tokens", "exchange_rates", "pending_activations",
                  "postbacks", "webhook_endpoints", "audit_log", "appeals", "review", "review/decided")
OWNER_LISTS = ("transactions", "attempts", "withdrawals", "postbacks", "audit_log", "appeals")
# The operators' lists drawn by hand that mix merchants (a Merchant column and filter each).
HAND_MADE_MIXED = ("appeals", "review", "review/decided")


def build_world(app):
    """Two merchants (Dhaka and Kolkata), each with rows in every list; an operator, an
    owner and a staff user of the first. Returns a dict."""
    now = utcnow().replace(microsecond=0)
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    upi = factories.payment_system("upi", "INR", name="UPI")
    PaymentSystem.update(country="BD").where(PaymentSystem.id == bkash.id).execute()
    PaymentSystem.update(country="IN").where(PaymentSystem.id == upi.id).execute()
    shops = []
    for n, (name, tz, ps) in enumerate((("Demo Shop", "Asia/Dhaka", bkash), ("Lucky Games", "Asia/Kolkata", upi))):
        m = factories.merchant(name=name, timezone=tz, postback_url=f"http://127.0.0.1:9/demo/receiver/{n + 1}")
        factories.merchant_payment_system(m, ps)
        w = factories.wallet(m, ps, number="01634881412" if n == 0 else "demoshop.1@okaxis")
        for i in range(3):
            factories.transaction(w, f"{1234 + i * 111}.50", label=f"user-{100 + i}", order_id=f"ord-8890{i}",
                                  transaction_number=f"DJA6CDAK{n}{i}R", counterparty="01811111111",
                                  status="activated", postback_status=("sent", "pending", "error")[i],
                                  created_at=now - datetime.timedelta(hours=i), activated_at=now)
        factories.withdrawal(m, ps, "2400.00", label="user-123", wallet_recipient="03873735112",
                             fields={"recipient_wallet": "03873735112", "recipient_name": "Rahim Uddin"},
                             comment="Weekly payout to the player's wallet")
        factories.withdrawal(m, ps, "1000.00", label="user-124", wallet_recipient="03873735113", status="approved",
                             postback_status="received", decided_at=now)
        with db.atomic():
            ActivationAttempt.create(merchant=m, payment_system=ps, transaction_number=f"DJA6CDAK{n}0R",
                                     label="user-100", network="203.0.113.0/24", sender="01811111111",
                                     outcome="not_found", reason="sender_mismatch")
            PendingActivation.create(merchant=m, payment_system=ps, transaction_number=f"PEND{n}LONG42",
                                     label="user-200", order_id="ord-77001", expires_at=now + datetime.timedelta(
                                         minutes=30), amount=Decimal("700.00"), network="203.0.113.0/24")
            Postback.create(event_id=f"evt_37eae38b16dc37bbb47a729{n}", merchant=m, endpoint=m.endpoint,
                            event_type="deposit.completed", object_type="transaction", object_id=1, payload="{}",
                            status="error", attempts=6, last_http_status=503,
                            last_error="HTTP 503: the server is down for maintenance", created_at=now)
            AuditLog.create(merchant=m, action="withdrawal.create", object_type="withdrawal", object_id="1",
                            summary={"amount": "2400.00", "currency": ps.currency, "kind": "api"}, ip="203.0.113.7")
            tx = factories.transaction(w, "9000.00", label="whale-1", status="activated", postback_status="review")
            DepositReview.create(merchant=m, payment_system=ps, transaction=tx, label="whale-1",
                                 amount=Decimal("9000.00"), currency=ps.currency, rule="above")
            DepositReview.create(merchant=m, payment_system=ps, transaction=tx, label="whale-1",
                                 amount=Decimal("9000.00"), currency=ps.currency, rule="above", status="approved",
                                 decided_at=now, note="Checked with the bank statement")
            Appeal.create(public_id=f"apl_K-sS8xZZEz_ZNJDFwgORl{n}", merchant=m, payment_system=ps,
                          label="user-101", order_id="ord-88901", transaction_number=f"APPL{n}NUMBER9",
                          amount=Decimal("1500.00"), currency=ps.currency, sender="01811111111",
                          paid_at=now - datetime.timedelta(hours=2))
        shops.append(m)
    a, b = shops
    with app.app_context():
        operator = factories.user("operator", login="operator@demo.example")
        owner = factories.user("merchant_owner", merchant=a, login="owner@demo-shop.example")
        staff = factories.user("merchant_staff", merchant=a, login="staff@demo-shop.example")
    return dict(a=a, b=b, bkash=bkash, upi=upi, operator=operator, owner=owner, staff=staff)
