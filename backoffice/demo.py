"""Demo data: payment systems, two merchants, users, wallets, rates, transactions in
every status, withdrawals, a connector token, and the credentials to use them.

The transactions are written in bulk (a few thousand rows in well under a second) in
states the activation rules produce: ``tests/test_demo.py`` checks that every row is
consistent (activated rows have an activation time, stockpilings add up, …).
"""
import datetime
import random
from decimal import Decimal

from .db import db
from .models import (
    ExchangeRate,
    Merchant,
    MerchantPaymentSystem,
    PaymentSystem,
    Stockpiling,
    Transaction,
    Wallet,
    WebhookEndpoint,
    Withdrawal,
    utcnow,
)
from .security import generate_password, new_postback_secret, new_totp_secret
from .services import ledger, stats_rollup
from .services.accounts import create_user
from .services.connectors import issue_token
from .services.merchants import create_merchant


class DemoError(RuntimeError):
    pass


def _field(name, label, required, pattern=""):
    return {"name": name, "label": label, "required": required, "pattern": pattern}


WALLET_NUMBER_BD = r"^01[3-9]\d{8}$"  # 11-digit Bangladeshi mobile wallet
WALLET_NUMBER_PK = r"^03\d{9}$"
IFSC = r"^[A-Z]{4}0[A-Z0-9]{6}$"
UPI_ID = r"^[\w.\-]{2,256}@[a-zA-Z]{2,64}$"

# code, name, currency, withdrawal field schema
PAYMENT_SYSTEMS = [
    ("bkash", "bKash", "BDT", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_BD),
                               _field("recipient_name", "Recipient name", False),
                               _field("comment", "Comment", False)]),
    ("nagad", "Nagad", "BDT", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_BD),
                               _field("recipient_name", "Recipient name", False),
                               _field("comment", "Comment", False)]),
    ("rocket", "Rocket", "BDT", [_field("recipient_wallet", "Recipient wallet number", True, r"^01[3-9]\d{8,9}$"),
                                 _field("recipient_name", "Recipient name", False)]),
    ("paytm", "PayTM", "INR", [_field("recipient_wallet", "Recipient wallet number", True, r"^[6-9]\d{9}$"),
                               _field("recipient_name", "Recipient name", True),
                               _field("email", "E-mail", False, r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]),
    ("upi", "UPI", "INR", [_field("recipient_wallet", "Recipient UPI ID", True, UPI_ID),
                           _field("recipient_name", "Recipient name", True),
                           _field("bank_name", "Bank name", True),
                           _field("branch_code", "IFSC code", True, IFSC),
                           _field("account_type", "Account type", False, r"^(savings|current)$")]),
    ("easypaisa", "Easypaisa", "PKR", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_PK),
                                       _field("recipient_name", "Recipient name", True)]),
    ("jazzcash", "JazzCash", "PKR", [_field("recipient_wallet", "Recipient wallet number", True, WALLET_NUMBER_PK),
                                     _field("recipient_name", "Recipient name", True),
                                     _field("email", "E-mail", False, r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]),
]

MIN_DEPOSIT = {"BDT": Decimal("500.00"), "INR": Decimal("300.00"), "PKR": Decimal("1000.00")}
RATE_TO_USD = {"BDT": Decimal("0.0083"), "INR": Decimal("0.0119"), "PKR": Decimal("0.0036")}
DAYS = 60


def _wallet_number(rng, currency):
    if currency == "BDT":
        return "01" + str(rng.randint(3, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
    if currency == "PKR":
        return "03" + "".join(str(rng.randint(0, 9)) for _ in range(9))
    return str(rng.randint(6, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(9))


def build_demo(base_url, transactions=3000, seed=20261127):
    """Fill an empty database; return the credentials (SPEC §8's shape)."""
    if Merchant.select().exists():
        raise DemoError("The database has merchants already: the demo only fills a fresh database.")
    rng = random.Random(seed)
    with db.atomic():
        systems = [
            PaymentSystem.create(code=code, name=name, currency=cur, withdrawal_fields=fields)
            for code, name, cur, fields in PAYMENT_SYSTEMS
        ]
        _rates(rng)
        operator_password = generate_password()
        operator = create_user("operator@demo.example", operator_password, "operator")
        token, _row = issue_token("Demo connector", [ps.code for ps in systems], None)
        merchants = []
        specs = [("Demo Shop", False, "Asia/Dhaka", systems),
                 ("Lucky Games", True, "Asia/Kolkata", systems)]
        per_merchant = max(transactions // len(specs), 50)
        for index, (name, delayed, tz, merchant_systems) in enumerate(specs, start=1):
            merchants.append(_merchant(rng, index, name, delayed, tz, merchant_systems, per_merchant))
        stats_rollup.rebuild()  # the rows above were written in bulk, not through activation
        ledger.book_history()  # and so were their money movements
    return {
        "base_url": base_url,
        "operator": {"login": operator.login, "password": operator_password, "totp_secret": operator.totp_secret},
        "connector_token": token,
        "merchants": merchants,
    }


def _rates(rng):
    today = utcnow().date()
    rows = []
    for currency, base in RATE_TO_USD.items():
        for day in range(DAYS + 31, -1, -7):  # a new rate every week
            drift = Decimal(rng.randint(-300, 300)) / Decimal(10000)
            rows.append({"currency": currency, "rate_to_usd": (base * (1 + drift)).quantize(Decimal("0.0000001")),
                         "effective_date": today - datetime.timedelta(days=day)})
    ExchangeRate.insert_many(rows).execute()


def _merchant(rng, index, name, delayed, tz, systems, count):
    slug = name.lower().replace(" ", "-")
    merchant = create_merchant(name, None, timezone=tz)  # its keys and secret, audited
    # Demo settings, stored as they are: the webhook endpoint is a local receiver
    # (loopback, which the Webhooks form's SSRF rules would refuse for a real merchant).
    endpoint = WebhookEndpoint.create(merchant=merchant, url=f"http://127.0.0.1:9{index:03d}/postbacks",
                                      description="Demo receiver", secret=new_postback_secret())
    merchant.delayed_activation = delayed
    merchant.allowed_origins = ["http://127.0.0.1:8000", "http://localhost:8000"]
    merchant.theme = ("dark", "white-green")[index % 2]
    merchant.save()
    owner_password, staff_password = generate_password(), generate_password()
    # The second merchant's owner turned the second factor on; the others did not.
    owner = create_user(f"owner@{slug}.example", owner_password, "merchant_owner", merchant=merchant,
                        totp_secret=new_totp_secret() if index == 2 else None)
    staff = create_user(f"staff@{slug}.example", staff_password, "merchant_staff", merchant=merchant)
    ps_entries, wallets = [], {}
    for order, ps in enumerate(systems):
        MerchantPaymentSystem.create(merchant=merchant, payment_system=ps, enabled=True,
                                     min_deposit=MIN_DEPOSIT[ps.currency],
                                     commission_percent=Decimal("2.50"), display_order=order)
        wallets[ps.id] = [
            Wallet.create(merchant=merchant, payment_system=ps, identifier=f"{ps.code}-{index}-{n}",
                          number=_wallet_number(rng, ps.currency))
            for n in (1, 2)
        ]
        ps_entries.append({"code": ps.code, "currency": ps.currency, "min_deposit": str(MIN_DEPOSIT[ps.currency]),
                           "wallet_numbers": [w.number for w in wallets[ps.id]]})
    _transactions(rng, merchant, systems, wallets, count)
    _withdrawals(rng, merchant, systems, wallets)
    return {
        "id": merchant.id, "name": merchant.name, "public_key": merchant.public_key,
        "api_key": merchant.api_key, "postback_secret": endpoint.secret,
        "delayed_activation": merchant.delayed_activation,
        "owner": {"login": owner.login, "password": owner_password, "totp_secret": owner.totp_secret},
        "staff": {"login": staff.login, "password": staff_password, "totp_secret": staff.totp_secret},
        "payment_systems": ps_entries,
    }


def _commission(amount):
    return (amount * Decimal("0.025")).quantize(Decimal("0.01"))


def _transactions(rng, merchant, systems, wallets, count):
    """Transactions over the last DAYS days, in every status the rules produce."""
    now = utcnow()
    rows = []
    n = 0
    while n < count:
        ps = rng.choice(systems)
        wallet = rng.choice(wallets[ps.id])
        minimum = MIN_DEPOSIT[ps.currency]
        created = now - datetime.timedelta(minutes=rng.randint(5, DAYS * 24 * 60))
        label = f"user-{rng.randint(1, 400)}"
        base = {"wallet": wallet.id, "payment_system": ps.id, "merchant": merchant.id, "currency": ps.currency,
                "counterparty": _wallet_number(rng, ps.currency), "label": None, "order_id": None,
                "type": "auto", "originality": "normal", "status": "new", "postback_status": "not_activated",
                "direction": "incoming", "stockpiling": None, "activated_at": None, "stockpiling_end_at": None}
        kind = rng.random()
        if kind < 0.08:  # small payments that completed a stockpiling together
            parts = rng.randint(2, 3)
            amounts = [(minimum / parts + Decimal(rng.randint(0, 50))).quantize(Decimal("0.01")) for _ in range(parts)]
            times = sorted(created + datetime.timedelta(minutes=10 * i) for i in range(parts))
            end = times[-1] + datetime.timedelta(minutes=1)
            sp = Stockpiling.create(merchant=merchant, payment_system=ps, label=label, currency=ps.currency,
                                    required_amount=minimum, accumulated_amount=sum(amounts), status="completed",
                                    created_at=times[0] + datetime.timedelta(minutes=1), completed_at=end)
            for amount, at in zip(amounts, times):
                rows.append(dict(base, amount=amount, commission=_commission(amount), label=label,
                                 status="activated", postback_status=rng.choice(["sent"] * 8 + ["error", "pending"]),
                                 stockpiling=sp.id, created_at=at, activated_at=at + datetime.timedelta(minutes=1),
                                 stockpiling_end_at=end))
            n += parts
            continue
        if kind < 0.12:  # one small payment still waiting for more
            if Stockpiling.select().where((Stockpiling.merchant == merchant) & (Stockpiling.payment_system == ps)
                                          & (Stockpiling.label == label)
                                          & (Stockpiling.status == "in_progress")).exists():
                continue
            amount = (minimum / 3).quantize(Decimal("0.01"))
            sp = Stockpiling.create(merchant=merchant, payment_system=ps, label=label, currency=ps.currency,
                                    required_amount=minimum, accumulated_amount=amount, created_at=created)
            rows.append(dict(base, amount=amount, commission=_commission(amount), label=label, status="activated",
                             postback_status="stockpiling", stockpiling=sp.id, created_at=created,
                             activated_at=created + datetime.timedelta(minutes=2)))
            n += 1
            continue
        amount = (minimum + Decimal(rng.randint(0, 20000)) / 4).quantize(Decimal("0.01"))
        row = dict(base, amount=amount, commission=_commission(amount), created_at=created)
        if kind < 0.72:  # a completed deposit
            row.update(label=label, order_id=f"ord-{rng.randint(10000, 99999)}", status="activated",
                       postback_status=rng.choice(["sent"] * 12 + ["error", "pending"]),
                       activated_at=created + datetime.timedelta(minutes=rng.randint(1, 30)),
                       type="manual" if rng.random() < 0.03 else "auto")
        elif kind < 0.77:
            row.update(originality="fraud")
        elif kind < 0.85:
            row.update(direction="outgoing", commission=Decimal("0.00"))
        rows.append(row)  # otherwise: reported, never claimed
        n += 1
    for i, row in enumerate(rows):
        row["transaction_number"] = f"{merchant.id}{i:07d}{rng.randint(100, 999)}"
    for start in range(0, len(rows), 500):
        Transaction.insert_many(rows[start:start + 500]).execute()


def _withdrawals(rng, merchant, systems, wallets):
    now = utcnow()
    for i in range(12):
        ps = rng.choice(systems)
        status = ("new", "approved", "approved", "rejected")[i % 4]
        created = now - datetime.timedelta(hours=rng.randint(1, DAYS * 24))
        fields = {"recipient_wallet": _wallet_number(rng, ps.currency), "recipient_name": "Demo Recipient"}
        Withdrawal.create(
            merchant=merchant, payment_system=ps, withdrawal_id=f"wd-{merchant.id}-{i + 1:04d}",
            amount=Decimal(rng.randint(5, 40) * 100), currency=ps.currency, label=f"user-{rng.randint(1, 400)}",
            wallet_sender=rng.choice(wallets[ps.id]) if status == "approved" else None,
            wallet_recipient=fields["recipient_wallet"], fields=fields, request_kind=("manual", "api")[i % 2],
            status=status, postback_status=None if status == "new" else "received",
            reject_reason="Recipient details do not match" if status == "rejected" else None,
            created_at=created, decided_at=None if status == "new" else created + datetime.timedelta(hours=2),
        )
