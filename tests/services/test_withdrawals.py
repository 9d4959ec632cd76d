"""Withdrawal requests: schema rules, balance, races, idempotency, decisions and their postbacks."""
import json
import re
from collections import Counter
from decimal import Decimal

import pytest
from helpers import run_threads
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.demo import PAYMENT_SYSTEMS
from backoffice.models import AuditLog, Event, Postback, Withdrawal
from backoffice.services import withdrawals as service
from backoffice.services.ledger import available

SCHEMAS = {code: fields for code, _name, _cur, fields in PAYMENT_SYSTEMS}
BAD_VALUE = "not valid!"


def test_every_demo_payment_system_has_valid_example_fields(ctx):
    assert set(VALID_FIELDS) == set(SCHEMAS)
    for code, ps in seed_payment_systems().items():
        clean, errors = service.validate_fields(ps, VALID_FIELDS[code])
        assert errors == [], (code, errors)
        assert clean == VALID_FIELDS[code]


@pytest.mark.parametrize("code", sorted(SCHEMAS))
def test_required_fields_and_patterns_per_payment_system(ctx, code):
    ps = seed_payment_systems()[code]
    required = [f["name"] for f in SCHEMAS[code] if f["required"]]
    assert required, code  # every demo system needs at least the recipient wallet
    for name in required:
        fields = dict(VALID_FIELDS[code])
        del fields[name]
        _clean, errors = service.validate_fields(ps, fields)
        assert errors == [{"field": f"fields.{name}", "message": "is required"}], (code, name)
        fields[name] = "   "  # blank is missing too
        _clean, errors = service.validate_fields(ps, fields)
        assert [e["field"] for e in errors] == [f"fields.{name}"]
    for item in SCHEMAS[code]:
        if item["pattern"]:
            fields = dict(VALID_FIELDS[code], **{item["name"]: BAD_VALUE})
            _clean, errors = service.validate_fields(ps, fields)
            assert [e["field"] for e in errors] == [f"fields.{item['name']}"], (code, item["name"])
    optional = [f["name"] for f in SCHEMAS[code] if not f["required"]]
    minimal = {k: v for k, v in VALID_FIELDS[code].items() if k not in optional}
    assert service.validate_fields(ps, minimal) == (minimal, [])


def test_the_concrete_rules_of_the_issue(ctx):
    systems = seed_payment_systems()
    _c, errors = service.validate_fields(systems["bkash"], {"recipient_wallet": "0171234567"})  # 10 digits
    assert [e["field"] for e in errors] == ["fields.recipient_wallet"]
    _c, errors = service.validate_fields(systems["bkash"], {"recipient_wallet": "017123456789"})  # 12 digits
    assert [e["field"] for e in errors] == ["fields.recipient_wallet"]
    upi = dict(VALID_FIELDS["upi"], branch_code="HDFC1001234")  # the 5th character of an IFSC is 0
    _c, errors = service.validate_fields(systems["upi"], upi)
    assert [e["field"] for e in errors] == ["fields.branch_code"]


def test_unknown_and_non_string_fields_are_refused(ctx):
    ps = seed_payment_systems()["bkash"]
    fields = dict(VALID_FIELDS["bkash"], branch_code="HDFC0001234", recipient_name=12)
    _c, errors = service.validate_fields(ps, fields)
    assert {e["field"] for e in errors} == {"fields.branch_code", "fields.recipient_name"}
    _c, errors = service.validate_fields(ps, ["not", "an", "object"])
    assert errors[0]["field"] == "fields"


def test_create_refuses_invalid_input_naming_each_field(ctx):
    ps = seed_payment_systems()["upi"]
    m = factories.merchant()
    fund(m, ps, amount="5000.00")
    with pytest.raises(service.ValidationFailed) as exc:
        service.create_withdrawal(m, ps, "1.005", "BDT", fields={"recipient_wallet": "x"}, withdrawal_id="a b")
    fields = {d["field"] for d in exc.value.details}
    assert fields == {"amount", "currency", "withdrawal_id", "fields.recipient_wallet", "fields.recipient_name",
                      "fields.bank_name", "fields.branch_code"}
    assert Withdrawal.select().count() == 0


def test_create_and_balance_refusal_states_the_available_amount(ctx):
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant()
    fund(m, ps, amount="1000.00", commission="25.00")  # 975.00 available
    actor = factories.user("merchant_owner", merchant=m)

    with pytest.raises(service.InsufficientBalance) as exc:
        service.create_withdrawal(m, ps, "975.01", "BDT", fields=VALID_FIELDS["bkash"], withdrawal_id="w1")
    assert "975.00 BDT" in exc.value.message
    assert exc.value.available == Decimal("975.00")
    assert Withdrawal.select().count() == 0

    w, created = service.create_withdrawal(m, ps, "900.00", "BDT", label="user-7", fields=VALID_FIELDS["bkash"],
                                           comment="payout", withdrawal_id="w1", kind="manual", actor=actor)
    assert created and w.status == "new" and w.request_kind == "manual"
    assert w.wallet_recipient == "01712345678" and w.amount == Decimal("900.00")
    assert AuditLog.get(AuditLog.action == "withdrawal.create").user_id == actor.id
    assert available(m, "BDT") == Decimal("75.00")

    with pytest.raises(service.InsufficientBalance) as exc:
        service.create_withdrawal(m, ps, "75.01", "BDT", fields=VALID_FIELDS["bkash"], withdrawal_id="w2")
    assert "75.00 BDT" in exc.value.message


def test_idempotency_same_request_returns_it_different_is_a_conflict(ctx):
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant()
    fund(m, ps, amount="1000.00")
    args = dict(label="u1", fields=VALID_FIELDS["bkash"], comment="c", withdrawal_id="same-id", kind="api")
    first, created = service.create_withdrawal(m, ps, "100.00", "BDT", **args)
    again, created_again = service.create_withdrawal(m, ps, "100", "BDT", **args)  # 100 == 100.00
    assert created and not created_again and again.id == first.id
    with pytest.raises(service.IdempotencyConflict):
        service.create_withdrawal(m, ps, "100.01", "BDT", **args)
    with pytest.raises(service.IdempotencyConflict):
        service.create_withdrawal(m, ps, "100.00", "BDT", **dict(args, label="u2"))
    with pytest.raises(service.IdempotencyConflict):
        service.create_withdrawal(m, ps, "100.00", "BDT",
                                  **dict(args, fields=dict(VALID_FIELDS["bkash"], recipient_name="Other")))
    assert Withdrawal.select().count() == 1
    # The key is per merchant: another merchant may use the same withdrawal_id.
    other = factories.merchant()
    fund(other, ps, amount="1000.00")
    _w, created = service.create_withdrawal(other, ps, "100.00", "BDT", **args)
    assert created and Withdrawal.select().count() == 2


def test_twenty_concurrent_requests_never_overdraw(app, ctx):
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant()
    fund(m, ps, amount="1000.00", commission="25.00")  # 975.00: room for 9 requests of 100.00

    def request(i):
        try:
            service.create_withdrawal(m.id, ps, "100.00", "BDT", fields=VALID_FIELDS["bkash"],
                                      withdrawal_id=f"race-{i}", kind="api")
            return "created"
        except service.InsufficientBalance:
            return "refused"

    outcomes = run_threads(app, 20, request)

    assert Counter(outcomes) == Counter({"created": 9, "refused": 11})
    assert available(m, "BDT") == Decimal("75.00")
    assert available(m, "BDT") >= 0


def test_concurrent_identical_requests_create_one(app, ctx):
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant()
    fund(m, ps, amount="1000.00")

    def request(i):
        w, created = service.create_withdrawal(m.id, ps, "100.00", "BDT", fields=VALID_FIELDS["bkash"],
                                               withdrawal_id="one-key", kind="api")
        return created

    outcomes = run_threads(app, 8, request)
    assert Counter(outcomes) == Counter({True: 1, False: 7})
    assert Withdrawal.select().count() == 1


@pytest.fixture
def pending(ctx):
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant(postback_url="http://127.0.0.1:9/hook")  # one endpoint: an event is one delivery
    wallet = factories.wallet(m, ps, number="01911111111")
    fund(m, ps, amount="2000.00", wallet=wallet)
    w, _ = service.create_withdrawal(m, ps, "500.00", "BDT", label="user-9", fields=VALID_FIELDS["bkash"],
                                     comment="weekly", withdrawal_id="wd-500", kind="api")
    operator = factories.user("operator")
    return dict(ps=ps, m=m, wallet=wallet, w=w, operator=operator)


def _payload(postback):
    return json.loads(postback.payload)


ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_approve_writes_audit_and_postback_with_the_payload(pending):
    w = service.approve(pending["w"], pending["operator"], pending["wallet"], "TRX-1")
    assert w.status == "approved" and w.postback_status == "pending" and w.decided_by_id == pending["operator"].id
    assert w.wallet_sender_id == pending["wallet"].id and w.decided_at is not None
    (pb,) = Postback.select()
    assert (pb.event_type, pb.object_type, pb.object_id, pb.merchant_id, pb.status) == (
        "withdrawal.approved", "withdrawal", w.id, pending["m"].id, "pending")
    body = _payload(pb)
    assert body["type"] == "withdrawal.approved" and body["id"] == pb.event_id
    data = body["data"]
    assert data["id"] == w.id and data["withdrawal_id"] == "wd-500" and data["merchant_id"] == pending["m"].id
    assert data["payment_system"] == "bkash" and data["amount"] == "500.00" and data["currency"] == "BDT"
    assert data["label"] == "user-9" and data["status"] == "approved" and data["comment"] == "weekly"
    assert data["fields"] == VALID_FIELDS["bkash"] and data["reject_reason"] is None
    assert data["wallet_sender"] == "01911111111"
    assert ISO_Z.match(data["created_at"]) and ISO_Z.match(data["decided_at"])
    entry = AuditLog.get(AuditLog.action == "withdrawal.approve")
    assert entry.user_id == pending["operator"].id and entry.object_id == str(w.id)
    assert entry.summary["status"] == {"before": "new", "after": "approved"}


def test_reject_needs_a_reason_and_sends_it(pending):
    with pytest.raises(service.ValidationFailed):
        service.reject(pending["w"], pending["operator"], "  ")
    assert Withdrawal.get_by_id(pending["w"].id).status == "new" and Postback.select().count() == 0
    w = service.reject(pending["w"], pending["operator"], "Name does not match")
    assert w.status == "rejected" and w.reject_reason == "Name does not match"
    data = _payload(Postback.get())["data"]
    assert Postback.get().event_type == "withdrawal.rejected"
    assert data["status"] == "rejected" and data["reject_reason"] == "Name does not match"
    assert data["wallet_sender"] is None
    assert available(pending["m"], "BDT") == Decimal("1975.00")  # 2000 − 25 commission; the 500 is back


def test_a_decided_request_cannot_be_decided_again(pending):
    service.approve(pending["w"], pending["operator"], pending["wallet"], "TRX-1")
    with pytest.raises(service.AlreadyDecided):
        service.reject(pending["w"].id, pending["operator"], "too late")
    with pytest.raises(service.AlreadyDecided):
        service.approve(pending["w"].id, pending["operator"], pending["wallet"], "TRX-1")
    w = Withdrawal.get_by_id(pending["w"].id)
    assert w.status == "approved" and w.reject_reason is None
    assert Postback.select().count() == 1
    assert AuditLog.select().where(AuditLog.action.in_(["withdrawal.approve", "withdrawal.reject"])).count() == 1


def test_sender_wallet_must_be_the_merchants_on_that_payment_system(pending):
    other = factories.merchant()
    foreign = factories.wallet(other, pending["ps"], number="01922222222")
    nagad = seed_payment_systems()["nagad"]
    wrong_system = factories.wallet(pending["m"], nagad, number="01933333333")
    for wallet in (foreign, wrong_system, None):
        with pytest.raises(service.ValidationFailed):
            service.approve(pending["w"], pending["operator"], wallet, "TRX-1")
    assert Withdrawal.get_by_id(pending["w"].id).status == "new" and Postback.select().count() == 0


def test_approve_and_reject_racing_decide_once(app, pending):
    ids = []
    for i in range(5):  # a few rounds: each is a real race between two connections
        w, _ = service.create_withdrawal(pending["m"], pending["ps"], "10.00", "BDT", fields=VALID_FIELDS["bkash"],
                                         withdrawal_id=f"r-{i}")
        ids.append(w.id)
    for wid in ids:
        def decide(i, wid=wid):
            try:
                if i == 0:
                    service.approve(wid, pending["operator"].id, pending["wallet"].id, "TRX-1")
                    return "approved"
                service.reject(wid, pending["operator"].id, "no")
                return "rejected"
            except service.AlreadyDecided:
                return "lost"

        outcomes = run_threads(app, 2, decide)
        assert sorted(outcomes) in (["approved", "lost"], ["lost", "rejected"]), outcomes
        winner = next(o for o in outcomes if o != "lost")
        w = Withdrawal.get_by_id(wid)
        assert w.status == winner
        (pb,) = Postback.select().where(Postback.object_id == wid)
        assert pb.event_type == f"withdrawal.{winner}"
        assert _payload(pb)["data"]["status"] == winner


def test_bulk_decisions_skip_decided_ones(pending):
    extra, _ = service.create_withdrawal(pending["m"], pending["ps"], "20.00", "BDT", fields=VALID_FIELDS["bkash"],
                                         withdrawal_id="extra")
    service.reject(extra, pending["operator"], "dup")
    done, refused = service.approve_many([pending["w"], extra], pending["operator"], lambda w: pending["wallet"],
                                         lambda w: "TRX-1")
    assert [w.id for w in done] == [pending["w"].id]
    assert [w.id for w, _msg in refused] == [extra.id]
    assert Withdrawal.get_by_id(extra.id).status == "rejected"
    with pytest.raises(service.ValidationFailed):
        service.reject_many([pending["w"]], pending["operator"], "")


def test_a_failure_after_the_outbox_write_rolls_everything_back(pending, monkeypatch):
    real = service.create_event

    def create_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        assert Event.select().count() == 1 and Postback.select().count() == 1  # written, inside the transaction
        raise RuntimeError("crash after the outbox write")

    monkeypatch.setattr(service, "create_event", create_then_fail)
    with pytest.raises(RuntimeError):
        service.approve(pending["w"], pending["operator"], pending["wallet"], "TRX-1")
    w = Withdrawal.get_by_id(pending["w"].id)
    assert w.status == "new" and w.wallet_sender_id is None and w.postback_status is None
    assert Postback.select().count() == 0 and Event.select().count() == 0
    assert AuditLog.select().where(AuditLog.action == "withdrawal.approve").count() == 0
    monkeypatch.setattr(service, "create_event", real)
    assert service.approve(pending["w"], pending["operator"], pending["wallet"], "TRX-1").status == "approved"


def test_schema_validation_for_the_operator_editor(ctx):
    good = SCHEMAS["upi"]
    assert service.validate_schema(good) == good
    for bad in ([{"name": "iban", "label": "IBAN", "required": True, "pattern": ""}],
                [{"name": "email", "label": "E", "required": True, "pattern": "(["}],
                [{"name": "email", "required": True}, {"name": "email", "required": False}],
                [{"name": "email", "required": "yes"}],
                {"name": "email"}):
        with pytest.raises(service.ValidationFailed):
            service.validate_schema(bad)
