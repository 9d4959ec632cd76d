"""The backoffice command: create-user, demo (and its credentials file), worker jobs."""
import json
import os
from decimal import Decimal

import pyotp
from helpers import login

from backoffice.models import (
    Balance,
    ExchangeRate,
    Merchant,
    PaymentSystem,
    Stockpiling,
    Transaction,
    User,
    Withdrawal,
)
from backoffice.security import token_digest
from backoffice.services.ledger_verify import verify
from backoffice.services.webhooks import endpoints_of


def test_create_user_prompts_for_the_password(runner, conn):
    result = runner.invoke(args=["create-user", "--login", "Ops@Example.test", "--role", "operator"],
                           input="a long password\na long password\n")
    assert result.exit_code == 0, result.output
    user = User.get(User.login == "ops@example.test")
    assert user.role == "operator" and user.totp_secret
    assert user.totp_secret in result.output  # shown once, to be added to an authenticator
    assert "a long password" not in user.password_hash
    from backoffice.models import AuditLog

    entry = AuditLog.get(AuditLog.action == "user.create")
    assert entry.ip == "cli" and entry.summary == {"login": "ops@example.test", "role": "operator"}


def test_create_user_names_the_faulty_field(runner, conn):
    result = runner.invoke(args=["create-user", "--login", "x@example.test", "--role", "merchant_owner"],
                           input="a long password\na long password\n")
    assert result.exit_code != 0
    assert "--merchant" in result.output
    result = runner.invoke(args=["create-user", "--login", "x@example.test", "--role", "operator"],
                           input="short\nshort\n")
    assert result.exit_code != 0 and "--password" in result.output
    assert User.select().count() == 0


def test_demo_fills_a_fresh_database_and_writes_credentials(app, runner, conn):
    result = runner.invoke(args=["demo", "--transactions", "600", "--base-url", "http://127.0.0.1:5000"])
    assert result.exit_code == 0, result.output
    path = os.path.join(app.instance_path, "demo-credentials.json")
    with open(path) as fh:
        creds = json.load(fh)
    assert set(creds) == {"base_url", "operator", "connector_token", "merchants"}
    assert set(creds["operator"]) == {"login", "password", "totp_secret"}
    assert creds["operator"]["totp_secret"]
    assert len(creds["merchants"]) >= 2
    assert {m["delayed_activation"] for m in creds["merchants"]} == {True, False}
    for m in creds["merchants"]:
        assert set(m) == {"id", "name", "public_key", "api_key", "plugin_secret", "postback_secret",
                          "delayed_activation", "owner", "staff", "payment_systems"}
        assert m["postback_secret"].startswith("whsec_")
        # The demo merchant's first webhook endpoint signs with it.
        assert endpoints_of(m["id"])[0].secret == m["postback_secret"]
        assert Merchant.get_by_id(m["id"]).api_key == m["api_key"]
        assert Merchant.get_by_id(m["id"]).plugin_secret == m["plugin_secret"]  # it signs data-signature v2
        for role in ("owner", "staff"):
            assert set(m[role]) == {"login", "password", "totp_secret"}
        for ps in m["payment_systems"]:
            assert set(ps) == {"code", "currency", "min_deposit", "wallet_numbers"} and ps["wallet_numbers"]
    assert {p.currency for p in PaymentSystem.select()} == {"BDT", "INR", "PKR"}
    assert PaymentSystem.select().count() >= 6
    assert ExchangeRate.select().count() > 0
    from backoffice.models import ConnectorToken

    assert ConnectorToken.get(ConnectorToken.token_hash == token_digest(creds["connector_token"]))
    # A second run changes nothing.
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and "fresh database" in again.output
    assert Merchant.select().count() == len(creds["merchants"])

    # The logins work, the operator's with the TOTP secret from the file.
    owner = User.get(User.login == creds["merchants"][0]["owner"]["login"])
    client = app.test_client()
    assert login(client, owner, password=creds["merchants"][0]["owner"]["password"]).status_code == 302
    assert client.get("/admin/transactions/").status_code == 200
    operator = User.get(User.login == creds["operator"]["login"])
    assert operator.totp_secret == creds["operator"]["totp_secret"]
    client = app.test_client()
    assert login(client, operator, password=creds["operator"]["password"],
                 code=pyotp.TOTP(creds["operator"]["totp_secret"]).now()).status_code == 302
    assert client.get("/admin/merchants/").status_code == 200


def test_demo_data_is_consistent(runner, conn):
    assert runner.invoke(args=["demo", "--transactions", "800"]).exit_code == 0
    statuses = {t.postback_status for t in Transaction.select(Transaction.postback_status).distinct()}
    assert statuses == {"not_activated", "stockpiling", "pending", "sent", "error"}
    assert Transaction.select().where(Transaction.originality == "fraud").exists()
    assert Transaction.select().where(Transaction.direction == "outgoing").exists()
    assert Transaction.select().where(Transaction.type == "manual").exists()
    for t in Transaction.select():
        assert (t.status == "activated") == (t.activated_at is not None)
        if t.status == "activated":
            assert t.label and t.originality == "normal" and t.direction == "incoming"
        if t.postback_status in ("pending", "sent", "error", "stockpiling"):
            assert t.status == "activated"
    for sp in Stockpiling.select():
        total = sum((t.amount for t in sp.transactions), Decimal("0"))
        assert total == sp.accumulated_amount
        assert (sp.status == "completed") == (total >= sp.required_amount)
    assert {w.status for w in Withdrawal.select()} == {"new", "approved", "rejected"}
    # The bulk-written history is booked: balances, entries and source records agree.
    assert Balance.select().count() >= 2 and verify() == []
