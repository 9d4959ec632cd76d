"""Rules the back office's screens show but do not own.

* which transactions may be activated (the details page's Activate button), the
  operator's manual activation and fraud marks, audited;
* which withdrawal requests await a decision, and how the ones chosen for a
  decision are grouped (one sender wallet per merchant and payment system);
* a merchant's own plugin theme: the upload (allowlist, audit) and the choice.
"""
import pytest

import factories
from backoffice.models import AuditLog, Merchant, Transaction
from backoffice.plugin_builder import config as plugin_config
from backoffice.plugin_builder.css import MAX_CSS_BYTES
from backoffice.services import activation
from backoffice.services import withdrawals as service


def entries(action):
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


# --- activation ----------------------------------------------------------------------------

@pytest.mark.parametrize("fields, allowed", [
    ({}, True),
    ({"status": "activated"}, False),
    ({"direction": "outgoing"}, False),
    ({"originality": "fraud"}, False),
])
def test_may_activate_only_new_incoming_normal_transactions(ctx, fields, allowed):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant()
    tx = factories.transaction(factories.wallet(m, ps), **fields)
    assert activation.may_activate(tx) is allowed


def test_what_may_activate_says_is_what_activation_does(ctx):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant()
    factories.merchant_payment_system(m, ps, min_deposit="500.00")
    wallet = factories.wallet(m, ps)
    for fields in ({}, {"direction": "outgoing"}, {"originality": "fraud"}, {"status": "activated"}):
        tx = factories.transaction(wallet, **fields)
        outcome = activation.activate_manually(tx, "visitor", None, None, ip="10.0.0.6")
        assert (outcome.status in activation.BINDING) is activation.may_activate(tx), fields
        assert not activation.may_activate(Transaction.get_by_id(tx.id))
    audited = entries("transaction.activate_manually")
    assert [e.summary["outcome"] for e in audited] == ["activated", "rejected", "rejected", "already_activated"]
    assert all(e.summary["label"] == "visitor" and e.ip == "10.0.0.6" for e in audited)


def test_set_originality_marks_and_audits_each_change(ctx):
    ps = factories.payment_system("bkash", "BDT")
    wallet = factories.wallet(factories.merchant(), ps)
    one, two = factories.transaction(wallet), factories.transaction(wallet)
    assert activation.set_originality([one.id, two.id], "fraud", None, ip="10.0.0.7") == 2
    assert activation.set_originality([one.id, two.id], "fraud", None) == 0
    assert not activation.may_activate(Transaction.get_by_id(one.id))
    assert activation.set_originality([one.id], "normal", None) == 1
    assert activation.may_activate(Transaction.get_by_id(one.id))
    assert [e.summary for e in entries("transaction.mark_fraud")] == [{"before": "normal", "after": "fraud"}] * 2
    assert [e.summary for e in entries("transaction.mark_normal")] == [{"before": "fraud", "after": "normal"}]
    with pytest.raises(ValueError):
        activation.set_originality([one.id], "suspicious", None)


# --- withdrawals -----------------------------------------------------------------------------

def test_decision_groups_split_decided_and_group_by_merchant_and_payment_system(ctx):
    bkash = factories.payment_system("bkash", "BDT")
    nagad = factories.payment_system("nagad", "BDT")
    a, b = factories.merchant(name="A"), factories.merchant(name="B")
    wallet_a = factories.wallet(a, bkash)
    factories.wallet(b, bkash)
    a1 = factories.withdrawal(a, bkash)
    b1 = factories.withdrawal(b, bkash)
    a2 = factories.withdrawal(a, bkash)
    a3 = factories.withdrawal(a, nagad)
    done = factories.withdrawal(a, bkash, status="approved")
    assert [service.awaiting_decision(w) for w in (a1, done)] == [True, False]
    pending, decided, groups = service.decision_groups([a1, b1, done, a2, a3])
    assert pending == [a1, b1, a2, a3] and decided == [done]
    assert [(g["key"], g["withdrawals"]) for g in groups] == [
        (f"{a.id}_{bkash.id}", [a1, a2]), (f"{b.id}_{bkash.id}", [b1]), (f"{a.id}_{nagad.id}", [a3])]
    assert [g["key"] for g in groups] == [service.decision_group_key(w) for w in (a1, b1, a3)]
    first = groups[0]
    assert first["merchant"].id == a.id and first["payment_system"].id == bkash.id
    assert [w.id for w in first["wallets"]] == [wallet_a.id]
    assert groups[2]["wallets"] == []  # A has no nagad wallet: nothing can pay that group
    assert service.decision_groups([done]) == ([], [done], [])


# --- the plugin's own theme --------------------------------------------------------------------

GOOD_CSS = b".plugin { color: #123456; }\n"


def test_upload_own_theme_stores_the_checked_sheet_and_audits(ctx):
    m = factories.merchant()
    result = plugin_config.upload_own_theme(m, GOOD_CSS, None, ip="10.0.0.8", via="api")
    fresh = Merchant.get_by_id(m.id)
    assert fresh.theme == "own" and fresh.own_css == result.css and fresh.own_css_hash == result.digest
    assert plugin_config.theme_name(fresh) == "own"
    [entry] = entries("plugin.theme")
    assert entry.ip == "10.0.0.8" and entry.merchant_id == m.id
    assert entry.summary == {"theme": "own", "via": "api", "sha256": result.digest[:16]}
    plugin_config.upload_own_theme(m, GOOD_CSS, None)
    assert entries("plugin.theme")[-1].summary == {"theme": "own", "sha256": result.digest[:16]}


@pytest.mark.parametrize("data", [b"@import url(http://evil.example/x.css);", b"x" * (MAX_CSS_BYTES + 1), None])
def test_upload_own_theme_refuses_with_the_problems(ctx, data):
    m = factories.merchant()
    with pytest.raises(plugin_config.ThemeError) as caught:
        plugin_config.upload_own_theme(m, data, None)
    assert caught.value.problems and all(p.line >= 1 and p.reason for p in caught.value.problems)
    fresh = Merchant.get_by_id(m.id)
    assert fresh.theme != "own" and fresh.own_css is None and entries("plugin.theme") == []


def test_choose_theme(ctx):
    m = factories.merchant()
    with pytest.raises(plugin_config.ThemeError):
        plugin_config.choose_theme(m, "neon", None)
    with pytest.raises(plugin_config.ThemeError):
        plugin_config.choose_theme(m, "own", None)  # no sheet uploaded yet
    before = m.theme
    plugin_config.choose_theme(m, "dark", None, ip="10.0.0.9")
    assert Merchant.get_by_id(m.id).theme == "dark"
    assert entries("plugin.theme")[-1].summary == {"before": before, "after": "dark"}
    plugin_config.upload_own_theme(m, GOOD_CSS, None)
    plugin_config.choose_theme(m, "light", None)
    plugin_config.choose_theme(m, "own", None)  # the sheet is kept: back to it without a new upload
    assert plugin_config.theme_name(Merchant.get_by_id(m.id)) == "own"
