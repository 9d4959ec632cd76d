"""Shared set-up for the withdrawal tests (issue 5): demo payment systems, funded merchants."""
from decimal import Decimal

import factories
from backoffice.demo import PAYMENT_SYSTEMS
from backoffice.models import PaymentSystem, utcnow

# A valid value for every field of every demo payment system's schema.
VALID_FIELDS = {
    "bkash": {"recipient_wallet": "01712345678", "recipient_name": "Rahim", "comment": "thanks"},
    "nagad": {"recipient_wallet": "01812345678", "recipient_name": "Karim"},
    "rocket": {"recipient_wallet": "019123456789", "recipient_name": "Salma"},
    "paytm": {"recipient_wallet": "9876543210", "recipient_name": "Ravi", "email": "ravi@example.in"},
    "upi": {"recipient_wallet": "ravi.k@okaxis", "recipient_name": "Ravi K", "bank_name": "HDFC Bank",
            "branch_code": "HDFC0001234", "account_type": "savings"},
    "easypaisa": {"recipient_wallet": "03001234567", "recipient_name": "Ali"},
    "jazzcash": {"recipient_wallet": "03111234567", "recipient_name": "Sara", "email": "sara@example.pk"},
}


def seed_payment_systems():
    """The demo's payment systems with their withdrawal field schemas."""
    systems = {}
    for code, name, currency, fields in PAYMENT_SYSTEMS:
        ps = PaymentSystem.get_or_none(PaymentSystem.code == code)
        systems[code] = ps or PaymentSystem.create(code=code, name=name, currency=currency, withdrawal_fields=fields)
    return systems


def fund(merchant, ps, amount="1000.00", commission="25.00", wallet=None):
    """A completed deposit of ``amount`` (``commission`` taken) for ``merchant`` on ``ps``."""
    wallet = wallet or factories.wallet(merchant, ps)
    return factories.transaction(wallet, amount=amount, commission=Decimal(commission), status="activated",
                                 postback_status="sent", label="payer", activated_at=utcnow())
