"""Risk → Matching and risk (SPEC §11), through the real pages: the operators' default
policy (every rule explained beside its field; a refused value beside its field and
nothing saved), a merchant's own policy and back to the default, the blocklists (add,
refuse a bad or duplicate entry, remove); every change audited; operators only."""
import html
import re
from decimal import Decimal

import pytest
from helpers import login, post_form

import factories
from backoffice.models import AuditLog, MatchingPolicy, RiskBlock
from backoffice.services import matching

INDEX = "/admin/risk/"
BLOCKS = "/admin/risk/blocks/"

# What the policy form posts when every field is as a browser sends it (a box left
# unticked is simply absent).
DEFAULT_FORM = {"require_sender": "y", "amount_tolerance": "0.00", "window_minutes": "1440",
                "velocity_label_hour": "", "velocity_sender_day": "", "review_above": "", "review_first_above": ""}


@pytest.fixture
def shop(app, conn):
    a = factories.merchant(name="Alpha")
    b = factories.merchant(name="Bravo")
    return dict(a=a, b=b, operator=factories.user("operator"), owner=factories.user("merchant_owner", a),
                staff=factories.user("merchant_staff", a))


@pytest.fixture
def operator(client, shop):
    login(client, shop["operator"])
    return client


def text(response):
    return response.get_data(as_text=True)


def field_error(page, field):
    match = re.search(rf'id="{field}-errors">([^<]*)<', page)
    return match.group(1) if match else None


def actions():
    return [e.action for e in AuditLog.select().order_by(AuditLog.id)]


def merchant_page(merchant):
    return f"{INDEX}?merchant={merchant.id}"


# --- the default policy -----------------------------------------------------------------------

def test_the_default_policy_page_explains_every_rule(operator, shop):
    page = text(operator.get(INDEX))
    for name in matching.POLICY_FIELDS:
        assert f'name="{name}"' in page, name
        explanation = re.search(rf'data-testid="explanation-{name}">([^<]*)<', page)
        assert explanation and html.unescape(explanation.group(1)).strip() == str(matching.EXPLANATIONS[name]), name
        label = re.search(rf'<label[^>]*for="{name}"[^>]*>([^<]*)<', page)
        assert label and html.unescape(label.group(1)).strip() == str(matching.LABELS[name]), name
    # Both merchants follow the default, each linking to its page.
    for m in (shop["a"], shop["b"]):
        row = re.search(rf'<tr data-merchant="{m.id}">(.*?)</tr>', page, re.S).group(1)
        assert f'href="/admin/risk/?merchant={m.id}"' in row and "the default" in row


def test_an_operator_saves_the_default_policy(operator, shop):
    form = dict(DEFAULT_FORM, require_amount="y", amount_tolerance="1.5", window_minutes="60",
                velocity_label_hour="3", review_above="10000", review_first_above="2500.50")
    form.pop("require_sender")
    response = post_form(operator, INDEX, f"{INDEX}policy/", form)
    assert response.status_code == 302 and response.headers["Location"].endswith(INDEX)
    policy = matching.default_policy()
    assert (policy.require_sender, policy.require_amount, policy.amount_tolerance, policy.window_minutes) == (
        False, True, Decimal("1.50"), 60)
    assert (policy.velocity_label_hour, policy.velocity_sender_day) == (3, None)
    assert (policy.review_above, policy.review_first_above) == (Decimal("10000.00"), Decimal("2500.50"))
    assert "The default policy is saved." in text(operator.get(INDEX))
    # The form shows what is saved, money with its two places, as the viewer's language writes it.
    page = text(operator.get(INDEX))
    assert re.search(r'name="review_first_above"[^>]*value="2,500.50"', page)
    assert re.search(r'name="amount_tolerance"[^>]*value="1.50"', page)
    assert not re.search(r'name="require_sender"[^>]*checked', page)
    entry = AuditLog.get(AuditLog.action == "matching_policy.update")
    assert entry.user_id == shop["operator"].id and entry.merchant_id is None
    # Both merchants follow it.
    assert matching.policy_for(shop["a"].id).review_above == Decimal("10000.00")


@pytest.mark.parametrize("field, value, message", [
    ("window_minutes", "soon", "Enter a whole number, or leave it empty."),
    ("velocity_sender_day", "0", "Enter a number from 1 to"),
    ("review_above", "1e5", "Review deposits above: enter an amount such as 1,250.50"),
    ("amount_tolerance", "-1", "must not be negative"),
])
def test_a_bad_value_is_shown_beside_its_field_and_nothing_is_saved(operator, shop, field, value, message):
    form = dict(DEFAULT_FORM, velocity_label_hour="7", **{field: value})
    response = post_form(operator, INDEX, f"{INDEX}policy/", form)
    assert response.status_code == 400
    page = text(response)
    assert message in (field_error(page, field) or ""), page
    assert re.search(r'name="velocity_label_hour"[^>]*value="7"', page)  # what was typed stays
    others = [name for name in matching.POLICY_FIELDS if name != field]
    assert all(field_error(page, name) is None for name in others)
    assert MatchingPolicy.select().where(MatchingPolicy.merchant.is_null()).count() == 0
    assert "matching_policy.update" not in actions()


def test_every_bad_field_is_named_at_once(operator, shop):
    form = dict(DEFAULT_FORM, window_minutes="x", review_above="abc")
    page = text(post_form(operator, INDEX, f"{INDEX}policy/", form))
    assert field_error(page, "window_minutes") and field_error(page, "review_above")


# --- a merchant's policy --------------------------------------------------------------------

def test_a_merchant_gets_its_own_policy_and_returns_to_the_default(operator, shop):
    a, b = shop["a"], shop["b"]
    post_form(operator, INDEX, f"{INDEX}policy/", dict(DEFAULT_FORM, review_above="5000"))
    page = text(operator.get(merchant_page(a)))
    assert "follows the default policy" in page and 'data-testid="follow-default"' not in page
    assert re.search(r'name="review_above"[^>]*value="5,000.00"', page)  # the default's values to start from
    assert 'data-testid="default-review_above">The default: 5,000.00<' in page

    response = post_form(operator, merchant_page(a), f"{INDEX}policy/?merchant={a.id}",
                         dict(DEFAULT_FORM, window_minutes="30", review_above=""))
    assert response.status_code == 302 and response.headers["Location"].endswith(merchant_page(a))
    own = matching.policy_for(a.id)
    assert own.own and own.window_minutes == 30 and own.review_above is None
    other = matching.policy_for(b.id)
    assert not other.own and other.review_above == Decimal("5000.00") and other.window_minutes == 1440
    page = text(operator.get(merchant_page(a)))
    assert "has a policy of its own" in page and 'data-testid="follow-default"' in page
    listing = text(operator.get(INDEX))
    assert "own policy" in re.search(rf'<tr data-merchant="{a.id}">(.*?)</tr>', listing, re.S).group(1)
    assert "the default" in re.search(rf'<tr data-merchant="{b.id}">(.*?)</tr>', listing, re.S).group(1)
    entry = AuditLog.select().where(AuditLog.action == "matching_policy.update").order_by(AuditLog.id.desc()).get()
    assert entry.merchant_id == a.id

    response = post_form(operator, merchant_page(a), f"{INDEX}follow-default/?merchant={a.id}", {})
    assert response.status_code == 302
    back = matching.policy_for(a.id)
    assert not back.own and back.review_above == Decimal("5000.00")
    assert MatchingPolicy.select().where(MatchingPolicy.merchant == a.id).count() == 0
    assert "follows the default policy again" in text(operator.get(merchant_page(a)))
    assert actions()[-1] == "matching_policy.follow_default"


def test_a_bad_value_on_a_merchant_policy_keeps_it_on_the_default(operator, shop):
    a = shop["a"]
    response = post_form(operator, merchant_page(a), f"{INDEX}policy/?merchant={a.id}",
                         dict(DEFAULT_FORM, velocity_label_hour="lots"))
    assert response.status_code == 400 and field_error(text(response), "velocity_label_hour")
    assert "follows the default policy" in text(response)
    assert not matching.policy_for(a.id).own


def test_an_unknown_merchant_is_a_404(operator, shop):
    assert operator.get(f"{INDEX}?merchant=999999").status_code == 404
    assert operator.get(f"{INDEX}?merchant=abc").status_code == 404
    assert post_form(operator, INDEX, f"{INDEX}follow-default/?merchant=999999", {}).status_code == 404
    assert post_form(operator, INDEX, f"{INDEX}follow-default/", {}).status_code == 404


# --- blocklists -----------------------------------------------------------------------------

def test_an_operator_adds_and_removes_blocks(operator, shop):
    a = shop["a"]
    assert 'data-testid="no-blocks"' in text(operator.get(BLOCKS))
    response = post_form(operator, BLOCKS, f"{BLOCKS}add/", {"kind": "label", "value": " cheater-42 ", "merchant": "",
                                                              "note": "Claims others' payments"})
    assert response.status_code == 302
    response = post_form(operator, BLOCKS, f"{BLOCKS}add/", {"kind": "network", "value": "203.0.113.77",
                                                              "merchant": str(a.id), "note": ""})
    assert response.status_code == 302
    everyone = RiskBlock.get(RiskBlock.kind == "label")
    assert (everyone.value, everyone.merchant_id, everyone.note, everyone.created_by_id) == (
        "cheater-42", None, "Claims others' payments", shop["operator"].id)
    network = RiskBlock.get(RiskBlock.kind == "network")
    assert (network.value, network.merchant_id) == ("203.0.113.0/24", a.id)  # kept by its /24

    page = text(operator.get(BLOCKS))
    row = re.search(rf'<tr data-block="{everyone.id}">(.*?)</tr>', page, re.S).group(1)
    assert "All merchants" in row and "cheater-42" in row and "Claims others&#39; payments" in row
    assert shop["operator"].login in row
    row = re.search(rf'<tr data-block="{network.id}">(.*?)</tr>', page, re.S).group(1)
    assert "Alpha" in row and "203.0.113.0/24" in row and "Visitor network" in row
    # A merchant's view of the list: its own entries and the global ones.
    for_bravo = text(operator.get(f"{BLOCKS}?merchant={shop['b'].id}"))
    assert f'data-block="{everyone.id}"' in for_bravo and f'data-block="{network.id}"' not in for_bravo
    assert f'<option selected value="{shop["b"].id}">' in for_bravo  # the add form starts on that merchant

    response = post_form(operator, BLOCKS, f"{BLOCKS}remove/", {"id": everyone.id})
    assert response.status_code == 302
    page = text(operator.get(BLOCKS))
    assert RiskBlock.select().count() == 1 and f'data-block="{everyone.id}"' not in page
    assert "Removed from the blocklist (Label): cheater-42." in page
    assert actions() == ["risk.block", "risk.block", "risk.unblock"]
    assert post_form(operator, BLOCKS, f"{BLOCKS}remove/", {"id": everyone.id}).status_code == 404
    assert post_form(operator, BLOCKS, f"{BLOCKS}remove/", {"id": "x"}).status_code == 404


@pytest.mark.parametrize("data, field", [
    ({"kind": "label", "value": ""}, "value"),
    ({"kind": "network", "value": "not-an-address"}, "value"),
    ({"kind": "colour", "value": "red"}, "kind"),
    ({"kind": "label", "value": "x", "merchant": "999999"}, "merchant"),
])
def test_a_bad_block_is_refused_beside_its_field(operator, shop, data, field):
    response = post_form(operator, BLOCKS, f"{BLOCKS}add/", dict({"merchant": "", "note": "kept note"}, **data))
    assert response.status_code == 400
    page = text(response)
    assert field_error(page, field), page
    assert 'value="kept note"' in page
    assert RiskBlock.select().count() == 0 and actions() == []


def test_a_duplicate_block_is_refused(operator, shop):
    data = {"kind": "sender", "value": "01700000001", "merchant": "", "note": ""}
    assert post_form(operator, BLOCKS, f"{BLOCKS}add/", data).status_code == 302
    response = post_form(operator, BLOCKS, f"{BLOCKS}add/", data)
    assert response.status_code == 400 and "blocked already" in field_error(text(response), "value")
    assert RiskBlock.select().count() == 1


# --- operators only ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", ("owner", "staff"))
def test_merchant_users_are_refused(client, shop, role):
    login(client, shop[role])
    token_page = client.get("/admin/settings/")
    from conftest import csrf_from
    token = csrf_from(token_page)
    for url in (INDEX, merchant_page(shop["a"]), BLOCKS):
        assert client.get(url).status_code == 403, url
    for url in (f"{INDEX}policy/", f"{INDEX}policy/?merchant={shop['a'].id}",
                f"{INDEX}follow-default/?merchant={shop['a'].id}", f"{BLOCKS}add/", f"{BLOCKS}remove/"):
        response = client.post(url, data={"csrf_token": token, "kind": "label", "value": "x", "review_above": "1"})
        assert response.status_code == 403, url
    assert MatchingPolicy.select().count() == 0 and RiskBlock.select().count() == 0
    assert 'href="/admin/risk/"' not in text(client.get("/admin/settings/"))


def test_signed_out_goes_to_the_login_page(client, shop):
    response = client.get(INDEX)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_menu_shows_risk_to_operators(operator):
    page = text(operator.get("/admin/settings/"))
    assert 'href="/admin/risk/"' in page and "Matching and risk" in page
