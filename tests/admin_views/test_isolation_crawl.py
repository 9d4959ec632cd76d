"""Isolation crawl: merchant A's users try every back-office URL with every id of
merchant B's objects; no B data may appear and no B row may change.

The URLs come from the app's own URL map, so a screen added later is crawled too.
"""
import json
import re

import pytest
from conftest import csrf_from
from helpers import login

import factories
from backoffice.models import (
    ALL_MODELS,
    AuditLog,
    Merchant,
    PendingActivation,
    Postback,
    PostbackAttempt,
    User,
    Withdrawal,
    utcnow,
)
from backoffice.services import audit, refused_origins
from backoffice.services.activation import activate
from backoffice.services.ingest import Report, ingest

B_NAME = "Bravo Secret Ltd"
B_MARKERS = (B_NAME, "bob-secret-label", "BSECRET", "bsecret-wd", "bob-secret-owner", "01799990000", "bsecret-hook")
ACTIONS = ("delete", "mark_fraud", "mark_normal", "resend_postback", "resend", "approve", "reject", "deactivate",
           "disable", "enable", "reset_password")


@pytest.fixture
def world(app, conn):
    from decimal import Decimal

    ps = factories.payment_system("bkash", "BDT")
    a = factories.merchant(name="Alpha Crawl")
    b = factories.merchant(name=B_NAME, postback_url="http://127.0.0.1:1/bsecret-hook", delayed_activation=True)
    # A second endpoint, disabled for failing: B's banner, never A's.
    factories.endpoint(b, "http://127.0.0.1:1/bsecret-hook-dead", enabled=False, disabled_reason="failing")
    for m, number in ((a, "01711110000"), (b, "01799990000")):
        factories.merchant_payment_system(m, ps, min_deposit="500.00")
        factories.wallet(m, ps, number=number)
    with app.app_context():
        ingest(Report("bkash", "01799990000", "BSECRET-TX-1", Decimal("900.00"), "BDT"))
        ingest(Report("bkash", "01799990000", "BSECRET-TX-2", Decimal("100.00"), "BDT"))
        ingest(Report("bkash", "01711110000", "ALPHA-TX-1", Decimal("900.00"), "BDT"))
        activate(b, "bkash", "BSECRET-TX-1", "bob-secret-label")
        activate(b, "bkash", "BSECRET-TX-2", "bob-secret-label")  # an open stockpiling
        activate(b, "bkash", "BSECRET-PENDING", "bob-secret-label")  # waiting (delayed activation)
        owner_b = factories.user("merchant_owner", merchant=b, login="bob-secret-owner@example.test")
        audit.record(owner_b, "settings.change", b, summary={"name": B_NAME})
        refused_origins.record(b, "https://bsecret-hook-site.example")  # B's refused site (issue 22)
    PostbackAttempt.create(postback=Postback.get(Postback.merchant == b), http_status=500,
                           response_excerpt="BSECRET answer", attempted_at=utcnow())
    factories.withdrawal(b, ps, withdrawal_id="bsecret-wd", label="bob-secret-label")
    assert PendingActivation.select().where(PendingActivation.merchant == b).exists()
    return dict(a=a, b=b, owner_a=factories.user("merchant_owner", merchant=a),
                staff_a=factories.user("merchant_staff", merchant=a))


def b_rows(b):
    """Every row of merchant B, model by model (what must not change)."""
    dump = {}
    for model in ALL_MODELS:
        fields = model._meta.fields
        if model is Merchant:
            query = model.select().where(model.id == b.id)
        elif model is PostbackAttempt:
            query = model.select().join(Postback).where(Postback.merchant == b.id)
        elif "merchant" in fields:
            query = model.select().where(model.merchant == b.id)
        else:
            continue
        dump[model.__name__] = sorted(repr(row) for row in query.order_by(model.id).tuples())
    return dump


def b_ids(b):
    ids = set()
    for model in ALL_MODELS:
        if "merchant" in model._meta.fields:
            ids |= {row.id for row in model.select(model.id).where(model.merchant == b.id)}
    ids |= {p.id for p in PostbackAttempt.select(PostbackAttempt.id).join(Postback).where(Postback.merchant == b.id)}
    ids.add(b.id)
    return sorted(ids)


def admin_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin") and not rule.endpoint.endswith("static"):
            yield rule


def concrete(rule, b_settings_ids):
    path = rule.rule
    path = path.replace("<export_type>", "csv").replace("<theme>", "dark")
    if "<int:settings_id>" in path:
        return [path.replace("<int:settings_id>", str(i)) for i in b_settings_ids]
    return [] if "<" in path else [path]


def assert_no_b_data(response, url):
    body = response.get_data(as_text=True)
    for marker in B_MARKERS:
        assert marker not in body, f"{url} shows B's {marker!r} ({response.status_code})"


@pytest.mark.parametrize("who", ["owner_a", "staff_a"])
def test_merchant_a_sees_and_changes_nothing_of_b(app, client, world, who):
    from backoffice.models import MerchantPaymentSystem

    b = world["b"]
    before = b_rows(b)
    ids = b_ids(b)
    settings_ids = [s.id for s in MerchantPaymentSystem.select().where(MerchantPaymentSystem.merchant == b)]
    login(client, world[who])
    token = csrf_from(client.get("/admin/transactions/"))
    crawled = 0
    for rule in admin_rules(app):
        for path in concrete(rule, settings_ids):
            if "GET" in rule.methods:
                for query in ["", f"?merchant={b.id}"] + [f"?id={i}" for i in ids] + [
                        f"?flt0_id_equals={i}" for i in ids[:3]] + ["?name=wallet&query=0", "?name=merchant&query=B"]:
                    response = client.get(path + query)
                    assert response.status_code != 500, path + query
                    assert_no_b_data(response, path + query)
                    crawled += 1
            if "POST" in rule.methods:
                for action in (ACTIONS if path.endswith("/action/") else ("",)):
                    data = {"csrf_token": token, "action": action, "rowid": [str(i) for i in ids],
                            "id": str(ids[0]), "list_form_pk": str(ids[0]), "merchant": str(b.id),
                            "merchant_id": str(b.id), "label": "hijacked", "status": "approved",
                            "name": "Hijacked", "reason": "hijack", "origin": "https://bsecret-hook-site.example"}
                    for i in ids:
                        data["id"] = str(i)
                        response = client.post(path + f"?id={i}", data=data)
                        assert response.status_code != 500, path
                        assert_no_b_data(response, path)
                        crawled += 1
    assert crawled > 500
    assert b_rows(b) == before, "merchant A changed merchant B's rows"
    # And B's numbers are not in A's dashboard either.
    stats = client.get(f"/admin/dashboard/stats.json?details=1&merchant={b.id}").get_json()
    assert stats["merchant"] == world["a"].id and "900.00" not in json.dumps(stats["summary"])
    assert re.search("BSECRET", client.get("/admin/transactions/export/csv/").get_data(as_text=True)) is None
    assert User.get(User.login == "bob-secret-owner@example.test").active
    assert Withdrawal.get(Withdrawal.withdrawal_id == "bsecret-wd").status == "new"
    assert AuditLog.select().where(AuditLog.merchant == b).count() >= 1
