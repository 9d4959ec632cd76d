"""Settings → Plugin installation, "Refused sites" (issue 22, point 8): the sites that
tried to show the merchant's plugin without being allowed — which, when (in the
viewer's time zone), how often — each with one click to allow it (audited through the
settings rule); staff are refused, and no merchant can allow another's refused site."""
import datetime
import html

import pytest
from flask_login import login_user
from helpers import login

import factories
from backoffice.i18n import format_datetime
from backoffice.models import AuditLog, Merchant, RefusedOrigin, User, utcnow
from backoffice.services import refused_origins
from conftest import csrf_from

INSTALLATION = "/admin/plugin-installation/"
ALLOW = INSTALLATION + "allow-origin"


@pytest.fixture
def world(app, conn):
    a = factories.merchant(name="Alpha", timezone="Asia/Dhaka", allowed_origins=["https://alpha.example"])
    b = factories.merchant(name="Bravo", timezone="UTC", allowed_origins=["https://bravo.example"])
    seen = utcnow().replace(microsecond=0) - datetime.timedelta(days=2)
    refused_origins.record(a, "https://old.example", now=seen)
    for hours in (1, 2, 3):
        refused_origins.record(a, "https://mirror.example", now=seen + datetime.timedelta(hours=hours))
    refused_origins.record(b, "https://bravo-mirror.example", now=seen)
    return dict(a=a, b=b, seen=seen, owner=factories.user("merchant_owner", merchant=a),
                staff=factories.user("merchant_staff", merchant=a), operator=factories.user("operator"),
                owner_b=factories.user("merchant_owner", merchant=b))


def viewer_time(app, user, value):
    with app.test_request_context():
        login_user(User.get_by_id(user.id))
        return format_datetime(value)


def allow(client, origin, page=INSTALLATION, **extra):
    token = csrf_from(client.get(page))
    return client.post(ALLOW, data=dict(extra, origin=origin, csrf_token=token))


def test_the_owner_sees_the_refused_sites_latest_first_in_their_time_zone(app, client, world):
    login(client, world["owner"])
    text = client.get(INSTALLATION).get_data(as_text=True)
    # Up front: the site must be listed (kept), then the refused sites.
    assert text.index('data-testid="origins-first"') < text.index('data-testid="refused-origins"')
    assert "Refused sites" in text
    table = text[text.index('data-testid="refused-table"'):text.index("</table>", text.index("refused-table"))]
    assert table.index("https://mirror.example") < table.index("https://old.example")
    assert "bravo-mirror" not in text
    seen = world["seen"]
    first = viewer_time(app, world["owner"], seen + datetime.timedelta(hours=1))
    last = viewer_time(app, world["owner"], seen + datetime.timedelta(hours=3))
    assert first != viewer_time(app, world["owner_b"], seen + datetime.timedelta(hours=1))  # Dhaka, not UTC
    row = table[table.index("https://mirror.example"):table.index("https://old.example")]
    assert html.escape(first) in row and html.escape(last) in row and ">3<" in row
    assert 'aria-label="Allow https://mirror.example"' in row and 'name="origin" value="https://mirror.example"' in row


def test_counts_are_numbers_people_read(client, world):
    RefusedOrigin.update(count=12345).where(RefusedOrigin.origin == "https://mirror.example").execute()
    login(client, world["owner"])
    assert ">12,345<" in client.get(INSTALLATION).get_data(as_text=True)


def test_allow_is_one_click_audited_and_the_site_then_opens_the_plugin(app, client, world):
    a = world["a"]
    login(client, world["owner"])
    response = allow(client, "https://mirror.example")
    assert response.status_code == 302 and response.headers["Location"].endswith(INSTALLATION)
    assert Merchant.get_by_id(a.id).allowed_origins == ["https://alpha.example", "https://mirror.example"]
    assert not RefusedOrigin.select().where((RefusedOrigin.merchant == a)
                                            & (RefusedOrigin.origin == "https://mirror.example")).exists()
    entry = AuditLog.get(AuditLog.action == "merchant.settings")
    assert (entry.merchant_id, entry.user_id) == (a.id, world["owner"].id)
    assert entry.summary["before"]["allowed_origins"] == ["https://alpha.example"]
    assert entry.summary["after"]["allowed_origins"] == ["https://alpha.example", "https://mirror.example"]
    page = client.get(INSTALLATION).get_data(as_text=True)
    assert "is now an allowed origin" in page and 'value="https://mirror.example"' not in page
    answer = client.get(f"/plugin/api/origin?merchant={a.public_key}", headers={"Origin": "https://mirror.example"})
    assert answer.get_json() == {"allowed": True}
    page_csp = client.get(f"/plugin/v1/page?merchant={a.public_key}&label=v").headers["Content-Security-Policy"]
    assert "frame-ancestors https://alpha.example https://mirror.example" in page_csp


def test_staff_may_not_see_nor_allow(client, world):
    login(client, world["staff"])
    assert client.get(INSTALLATION).status_code == 403
    token = csrf_from(client.get("/admin/settings/"))  # a page staff may open
    assert client.post(ALLOW, data={"origin": "https://mirror.example", "csrf_token": token}).status_code == 403
    assert Merchant.get_by_id(world["a"].id).allowed_origins == ["https://alpha.example"]
    assert RefusedOrigin.select().count() == 3


def test_no_merchant_can_allow_another_merchants_refused_site(client, world):
    a, b = world["a"], world["b"]
    login(client, world["owner"])
    assert allow(client, "https://bravo-mirror.example").status_code == 404
    assert allow(client, "https://never-refused.example").status_code == 404  # only refused sites, one click
    assert allow(client, "https://mirror.example", merchant=str(b.id)).status_code == 302  # A's own, whatever posted
    assert Merchant.get_by_id(b.id).allowed_origins == ["https://bravo.example"]
    assert RefusedOrigin.select().where(RefusedOrigin.merchant == b).count() == 1
    assert Merchant.get_by_id(a.id).allowed_origins == ["https://alpha.example", "https://mirror.example"]


def test_the_operator_allows_for_the_merchant_chosen(client, world):
    a, b = world["a"], world["b"]
    login(client, world["operator"])
    page = client.get(INSTALLATION + f"?merchant={b.id}").get_data(as_text=True)
    assert "https://bravo-mirror.example" in page and "https://mirror.example" not in page
    assert f'name="merchant" value="{b.id}"' in page
    # B's refused site, asked as A's: refused; as B's: allowed.
    assert allow(client, "https://bravo-mirror.example", page=INSTALLATION + f"?merchant={b.id}",
                 merchant=str(a.id)).status_code == 404
    response = allow(client, "https://bravo-mirror.example", page=INSTALLATION + f"?merchant={b.id}",
                     merchant=str(b.id))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"?merchant={b.id}")
    assert Merchant.get_by_id(b.id).allowed_origins == ["https://bravo.example", "https://bravo-mirror.example"]
    assert Merchant.get_by_id(a.id).allowed_origins == ["https://alpha.example"]
    entry = AuditLog.get(AuditLog.action == "merchant.settings")
    assert (entry.merchant_id, entry.user_id) == (b.id, world["operator"].id)


def test_allow_needs_the_csrf_token(client, world):
    login(client, world["owner"])
    client.get(INSTALLATION)
    assert client.post(ALLOW, data={"origin": "https://mirror.example"}).status_code == 400
    assert Merchant.get_by_id(world["a"].id).allowed_origins == ["https://alpha.example"]


def test_the_settings_rule_still_decides(client, world):
    """Allowing goes through the settings' checks: at most 50 allowed origins."""
    a = world["a"]
    a.allowed_origins = [f"https://s{i}.example" for i in range(50)]
    a.save()
    login(client, world["owner"])
    response = allow(client, "https://mirror.example")
    assert response.status_code == 302
    page = client.get(INSTALLATION).get_data(as_text=True)
    assert "was not allowed" in page and "At most 50 origins" in page
    assert len(Merchant.get_by_id(a.id).allowed_origins) == 50
    assert RefusedOrigin.select().where(RefusedOrigin.origin == "https://mirror.example").exists()


def test_no_refused_site_says_so(client, world):
    RefusedOrigin.delete().execute()
    login(client, world["owner"])
    text = client.get(INSTALLATION).get_data(as_text=True)
    assert 'data-testid="refused-none"' in text and "No site has been refused so far." in text
