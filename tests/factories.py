"""Test data built through the same services the product uses."""
import itertools
from decimal import Decimal

from backoffice.models import (
    Merchant,
    MerchantPaymentSystem,
    PaymentSystem,
    Transaction,
    Wallet,
    WebhookEndpoint,
    Withdrawal,
    utcnow,
)
from backoffice.security import (
    new_api_key,
    new_postback_secret,
    new_public_key,
    totp_now,
)
from backoffice.db import db
from backoffice.services import ledger
from backoffice.services.accounts import create_user
from backoffice.services.activation import is_completed_deposit

PASSWORD = "correct horse battery staple"
APP = None  # set by the ``app`` fixture
_seq = itertools.count(1)


def payment_system(code="bkash", currency="BDT", name=None):
    ps = PaymentSystem.get_or_none(PaymentSystem.code == code)
    return ps or PaymentSystem.create(code=code, name=name or code.title(), currency=currency)


def merchant(name=None, postback_url=None, postback_secret=None, **fields):
    """A merchant; ``postback_url``: with a webhook endpoint there (``m.endpoint``, its
    secret also as ``m.postback_secret``, as before endpoints existed)."""
    n = next(_seq)
    m = Merchant.create(name=name or f"Merchant {n}", public_key=new_public_key(), api_key=new_api_key(), **fields)
    m.endpoint = None
    m.postback_secret = postback_secret or new_postback_secret()
    if postback_url:
        m.endpoint = endpoint(m, postback_url, secret=m.postback_secret)
    return m


def endpoint(merchant, url, secret=None, event_types=(), **fields):
    """A webhook endpoint stored as it is (a loopback URL too: the tests' receivers)."""
    return WebhookEndpoint.create(merchant=merchant, url=url, secret=secret or new_postback_secret(),
                                  event_types=list(event_types), **fields)


def user(role="merchant_owner", merchant=None, login=None, password=PASSWORD, **kwargs):
    from flask import has_app_context

    n = next(_seq)
    login = login or f"{role}-{n}@example.test"
    if has_app_context():
        return create_user(login, password, role, merchant=merchant, **kwargs)
    with APP.app_context():
        return create_user(login, password, role, merchant=merchant, **kwargs)


def wallet(merchant, ps=None, number=None):
    ps = ps or payment_system()
    n = next(_seq)
    return Wallet.create(merchant=merchant, payment_system=ps, identifier=f"w{n}", number=number or f"017{n:08d}")


def merchant_payment_system(merchant, ps, min_deposit="500.00", commission="2.50"):
    return MerchantPaymentSystem.create(
        merchant=merchant, payment_system=ps, min_deposit=Decimal(min_deposit), commission_percent=Decimal(commission)
    )


def transaction(wallet, amount="600.00", **fields):
    n = next(_seq)
    values = dict(
        wallet=wallet, payment_system=wallet.payment_system_id, merchant=wallet.merchant_id,
        amount=Decimal(amount), currency=wallet.payment_system.currency,
        transaction_number=f"TX{n:09d}", created_at=utcnow(),
    )
    values.update(fields)
    with db.atomic():
        tx = Transaction.create(**values)
        # A completed deposit made here is booked as activation books it (a stockpiling's
        # members are booked when a test completes it through the service).
        if is_completed_deposit(tx) and tx.originality == "normal" and tx.stockpiling_id is None:
            ledger.book_deposit("transaction", tx.id, tx.merchant_id, tx.currency, [tx])
    return tx


def withdrawal(merchant, ps, amount="100.00", **fields):
    n = next(_seq)
    values = dict(merchant=merchant, payment_system=ps, withdrawal_id=f"wd-{n}", amount=Decimal(amount),
                  currency=ps.currency)
    values.update(fields)
    with db.atomic():
        row = Withdrawal.create(**values)
        # Booked as the service books a request and its decision.
        ledger.book_withdrawal(row, "withdrawal_hold")
        if row.status == "approved":
            ledger.book_withdrawal(row, "withdrawal_payout")
        elif row.status in ("rejected", "cancelled"):
            ledger.book_withdrawal(row, "withdrawal_release")
    return row


def code_for(user_obj):
    """The user's code now, by the test app's TOTP clock when it has one (helpers.totp_clock)."""
    clock = APP.config.get("TOTP_CLOCK") if APP is not None else None
    return totp_now(user_obj.totp_secret, at=clock() if clock else None)
