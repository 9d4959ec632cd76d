"""Settings → Plugin appearance and Plugin installation: owners change their own
merchant, operators choose a merchant, staff are refused (SPEC §1; issue 17, the role
table); every change needs the CSRF token."""
import html
import io
import re

import pytest
from helpers import login
from PIL import Image

import factories
from backoffice.models import AuditLog, Merchant, MerchantPaymentSystem
from backoffice.plugin_builder import snippet as snippets
from conftest import csrf_from

APPEARANCE = "/admin/plugin-appearance/"
INSTALLATION = "/admin/plugin-installation/"


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system("bkash", "BDT", name="bKash")
    a, b = factories.merchant(name="Alpha"), factories.merchant(name="Bravo")
    mps_a = factories.merchant_payment_system(a, ps)
    mps_b = factories.merchant_payment_system(b, ps)
    return dict(a=a, b=b, mps_a=mps_a, mps_b=mps_b, owner=factories.user("merchant_owner", merchant=a),
                staff=factories.user("merchant_staff", merchant=a), operator=factories.user("operator"))


def gif(frames=2, comment=b"*/alert(1)//"):
    images = [Image.new("P", (16, 16), i) for i in range(frames)]
    for im in images:
        im.putpalette([0, 0, 0, 200, 30, 30, 30, 200, 30])
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=90, comment=comment)
    return out.getvalue()


def post(client, url, data, page=APPEARANCE, files=None):
    token = csrf_from(client.get(page))
    data = dict(data, csrf_token=token)
    for name, (content, filename) in (files or {}).items():
        data[name] = (io.BytesIO(content), filename)
    return client.post(url, data=data, content_type="multipart/form-data")


def test_owner_picks_a_built_in_theme(client, world):
    login(client, world["owner"])
    page = client.get(APPEARANCE)
    assert page.status_code == 200 and "Plugin appearance" in page.get_data(as_text=True)
    response = post(client, APPEARANCE + "theme", {"theme": "dark"})
    assert response.status_code == 302
    assert Merchant.get_by_id(world["a"].id).theme == "dark"
    assert Merchant.get_by_id(world["b"].id).theme == "light"
    assert AuditLog.select().where(AuditLog.action == "plugin.theme").count() == 1


def test_changes_need_the_csrf_token(client, world):
    login(client, world["owner"])
    response = client.post(APPEARANCE + "theme", data={"theme": "dark"})
    assert response.status_code == 400
    assert Merchant.get_by_id(world["a"].id).theme == "light"


def test_own_css_upload_lists_line_column_and_reason(client, world):
    login(client, world["owner"])
    bad = b"a { color: red }\n.b {\n  background: url(https://evil.example/x);\n}\n"
    response = post(client, APPEARANCE + "theme", {"theme": "own"}, files={"css": (bad, "mine.css")})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    errors = re.search(r'data-testid="css-errors">(.*?)</div>', text, re.S).group(1)
    assert "<td>3</td><td>15</td>" in errors and "url()" in errors
    assert Merchant.get_by_id(world["a"].id).own_css is None
    good = b":root { --bo-accent: #0a7 }\n/* a comment */\n.bo-title { font-weight: 700 }\n"
    response = post(client, APPEARANCE + "theme", {"theme": "own"}, files={"css": (good, "mine.css")})
    assert response.status_code == 302
    stored = Merchant.get_by_id(world["a"].id)
    assert stored.theme == "own" and "comment" not in stored.own_css and "--bo-accent: #0a7;" in stored.own_css
    sheet = client.get(f"/plugin/v1/themes/{stored.public_key}/{stored.own_css_hash[:16]}.css")
    assert sheet.get_data(as_text=True) == stored.own_css
    # choosing "own" with no file keeps the stored sheet; a built-in theme switches back
    assert post(client, APPEARANCE + "theme", {"theme": "light"}).status_code == 302
    assert Merchant.get_by_id(world["a"].id).theme == "light"
    assert post(client, APPEARANCE + "theme", {"theme": "own"}).status_code == 302
    assert Merchant.get_by_id(world["a"].id).theme == "own"


def test_starter_file_downloads(client, world):
    login(client, world["owner"])
    response = client.get(APPEARANCE + "starter/white-green.css")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert b"--bo-accent" in response.get_data()
    response.close()
    assert client.get(APPEARANCE + "starter/evil.css").status_code == 404


def test_gif_prompt_upload_preview_replace_remove(client, world):
    login(client, world["owner"])
    mps = world["mps_a"]
    page = client.get(APPEARANCE).get_data(as_text=True)
    assert 'data-toggle="modal"' in page and "data-dropzone" in page and 'name="gif"' in page
    response = post(client, APPEARANCE + f"prompt/{mps.id}", {}, files={"gif": (gif(), "how.gif")})
    assert response.status_code == 302
    name = MerchantPaymentSystem.get_by_id(mps.id).gif_prompt
    assert name and name.endswith(".gif") and name != "how.gif"
    served = client.get(f"/plugin/v1/prompts/{name}")
    assert served.mimetype == "image/gif" and b"alert" not in served.get_data()
    assert f"/plugin/v1/prompts/{name}" in client.get(APPEARANCE).get_data(as_text=True)
    # replace
    assert post(client, APPEARANCE + f"prompt/{mps.id}", {}, files={"gif": (gif(3), "b.gif")}).status_code == 302
    second = MerchantPaymentSystem.get_by_id(mps.id).gif_prompt
    assert second != name and client.get(f"/plugin/v1/prompts/{name}").status_code == 404
    # refused: a PNG
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    post(client, APPEARANCE + f"prompt/{mps.id}", {}, files={"gif": (png.getvalue(), "x.gif")})
    assert "The GIF was refused" in client.get(APPEARANCE).get_data(as_text=True)
    assert MerchantPaymentSystem.get_by_id(mps.id).gif_prompt == second
    # remove
    assert post(client, APPEARANCE + f"prompt/{mps.id}/delete", {}).status_code == 302
    assert MerchantPaymentSystem.get_by_id(mps.id).gif_prompt is None
    assert client.get(f"/plugin/v1/prompts/{second}").status_code == 404


def test_owner_cannot_touch_another_merchants_prompt(client, world):
    login(client, world["owner"])
    other = world["mps_b"]
    assert post(client, APPEARANCE + f"prompt/{other.id}", {}, files={"gif": (gif(), "a.gif")}).status_code == 404
    assert post(client, APPEARANCE + "theme", {"theme": "dark", "merchant": world["b"].id}).status_code == 302
    assert Merchant.get_by_id(world["b"].id).theme == "light"  # the owner's own merchant changed instead
    assert MerchantPaymentSystem.get_by_id(other.id).gif_prompt is None


def test_staff_are_refused(client, world):
    """SPEC §1: staff have the dashboard, transactions and withdrawals, and their own
    profile; the plugin pages are the owner's (issue 17 found them open to staff)."""
    login(client, world["staff"])
    assert client.get(APPEARANCE).status_code == 403
    assert client.get(INSTALLATION).status_code == 403
    assert client.get(APPEARANCE + "starter/white-green.css").status_code == 403
    token = csrf_from(client.get("/admin/settings/"))
    assert client.post(APPEARANCE + "theme", data={"theme": "dark", "csrf_token": token}).status_code == 403
    assert client.post(APPEARANCE + f"prompt/{world['mps_a'].id}/delete",
                       data={"csrf_token": token}).status_code == 403
    assert Merchant.get_by_id(world["a"].id).theme == "light"
    menu = client.get("/admin/").get_data(as_text=True)
    assert APPEARANCE not in menu and INSTALLATION not in menu


def test_operator_chooses_a_merchant(client, world):
    login(client, world["operator"])
    text = client.get(APPEARANCE).get_data(as_text=True)
    assert 'data-testid="merchant-choice"' in text and "Bravo" in text
    b = world["b"]
    assert "bKash" in client.get(APPEARANCE + f"?merchant={b.id}").get_data(as_text=True)
    response = post(client, APPEARANCE + "theme", {"theme": "white-green", "merchant": b.id},
                    page=APPEARANCE + f"?merchant={b.id}")
    assert response.status_code == 302 and f"merchant={b.id}" in response.headers["Location"]
    assert Merchant.get_by_id(b.id).theme == "white-green"
    assert post(client, APPEARANCE + "theme", {"theme": "dark"}).status_code == 404  # no merchant chosen
    snippet = client.get(INSTALLATION + f"?merchant={b.id}").get_data(as_text=True)
    assert b.public_key in snippet


def code_blocks(text):
    """The page's examples: data-testid -> the code as shown (HTML unescaped)."""
    return {m.group(1): html.unescape(m.group(2))
            for m in re.finditer(r'<code data-testid="example-([a-z0-9-]+)">(.*?)</code>', text, re.S)}


def test_installation_page_shows_snippet_parameters_and_examples(client, world):
    login(client, world["owner"])
    a = world["a"]
    text = client.get(INSTALLATION).get_data(as_text=True)
    snippet = re.search(r'data-testid="snippet">(.*?)</code>', text, re.S).group(1)
    assert "/plugin/v1/loader.js" in snippet and f'data-merchant=&#34;{a.public_key}&#34;' in snippet
    assert 'id="plugin-copy"' in text
    for name in ("data-merchant", "data-session", "data-label", "data-signature", "data-success-url",
                 "data-pending-url"):
        assert f"<code>{name}</code>" in text
    # Every example is shown exactly as snippets has it (the text the tests run).
    assert code_blocks(text) == {code: str(body) for code, _title, body in snippets.EXAMPLES}
    assert "hash_hmac" in text and "createHmac" in text and "hmac.new" in text
    # No secret on the page: neither the API key nor the plugin secret.
    stored = Merchant.get_by_id(a.id)
    assert stored.api_key not in text and stored.plugin_secret not in text
    assert b"plugin-installation" in client.get("/admin/").get_data()  # in the Settings menu


def test_installation_page_puts_the_new_way_first(client, world):
    """SPEC §13: the allowed origins up front, then plugin sessions (recommended), then
    labels signed with the plugin secret, then the deprecated forms, collapsed."""
    login(client, world["owner"])
    text = client.get(INSTALLATION).get_data(as_text=True)
    body = text[text.index('data-testid="origins-first"'):]
    marks = ['data-testid="origins-first"', 'data-testid="sessions"', 'data-testid="example-python-session"',
             'data-testid="example-php-session"', 'data-testid="example-node-session"',
             'data-testid="snippet-session"', 'data-testid="signed-labels"', 'data-testid="example-python"',
             'data-testid="example-php"', 'data-testid="example-node"', 'data-testid="deprecated"', "<details>",
             'data-testid="example-python-interim"', 'data-testid="example-python-v1"']
    positions = [body.index(mark) for mark in marks]
    assert positions == sorted(positions)
    assert 'href="/admin/settings/system/" data-testid="origins-link"' in body
    assert "You have listed none yet." in body
    assert "Plugin sessions (recommended)" in body and "POST http://localhost/api/v1/plugin/sessions" in body
    # The session snippet: data-session, no label, no signature (even with signed labels on).
    Merchant.update(require_signed_labels=True, allowed_origins=["https://shop.example"]).where(
        Merchant.id == world["a"].id).execute()
    text = client.get(INSTALLATION).get_data(as_text=True)
    session_snippet = html.unescape(re.search(r'data-testid="snippet-session">(.*?)</code>', text, re.S).group(1))
    assert session_snippet == snippets.snippet(Merchant.get_by_id(world["a"].id), "http://localhost/",
                                               session="TOKEN")
    assert 'data-session="TOKEN"' in session_snippet
    assert "data-label" not in session_snippet and "data-signature" not in session_snippet
    labelled = html.unescape(re.search(r'data-testid="snippet">(.*?)</code>', text, re.S).group(1))
    assert 'data-signature="SIGNATURE"' in labelled
    assert "You have listed none yet." not in text
    # The deprecated forms name the day they stop being accepted; v2 names the plugin secret.
    deprecated = text[text.index('data-testid="deprecated"'):]
    assert "2027-06-30" in deprecated and "API key" in deprecated
    signed = text[text.index('data-testid="signed-labels"'):text.index('data-testid="deprecated"')]
    assert "plugin secret" in signed and 'data-testid="plugin-secret-link"' in signed
    assert "yes, without data-session" in text


def test_operator_sees_the_chosen_merchants_links(client, world):
    login(client, world["operator"])
    b = world["b"]
    text = client.get(INSTALLATION + f"?merchant={b.id}").get_data(as_text=True)
    assert f'href="/admin/settings/system/?merchant={b.id}" data-testid="origins-link"' in text
    assert b.public_key in text and Merchant.get_by_id(b.id).plugin_secret not in text


def test_anonymous_goes_to_login(client, world):
    assert client.get(APPEARANCE).status_code == 302
    assert client.get(INSTALLATION).status_code == 302
