"""GET /plugin/api/config, CORS on the plugin API, and the merchant API for the theme
and the GIF prompts."""
import io
from collections import Counter

from PIL import Image

from plugin_support import plugin_shop  # noqa: F401 - fixture

from backoffice.models import AuditLog, Merchant, MerchantPaymentSystem, Wallet
import datetime

from backoffice.services.wallets import choose


def config(client, merchant, **params):
    query = "&".join(f"{k}={v}" for k, v in dict(merchant=merchant.public_key, **params).items())
    return client.get("/plugin/api/config?" + query)


def test_config_lists_enabled_systems_with_wallet_theme_and_behaviour(client, plugin_shop):
    m = plugin_shop["merchant"]
    body = config(client, m, label="visitor-1").get_json()
    assert [p["code"] for p in body["payment_systems"]] == ["bkash", "nagad"]  # display order
    bkash, nagad = body["payment_systems"]
    assert bkash["min_deposit"] == "500.00" and nagad["min_deposit"] == "250.50"
    assert bkash["currency"] == "BDT" and bkash["name"] == "bKash" and bkash["prompt_url"] is None
    assert bkash["wallet_number"] in {w.number for w in plugin_shop["wallets"]}
    assert nagad["wallet_number"] == "01800000001"
    assert body["theme"] == "light" and body["theme_url"].endswith("/static/themes/light.css")
    assert body["after_payment"] == {"behaviour": "message", "url": None}
    assert body["require_signed_labels"] is False
    # the same visitor keeps the same wallet
    assert config(client, m, label="visitor-1").get_json()["payment_systems"][0]["wallet_number"] == \
        bkash["wallet_number"]


def test_config_leaves_out_disabled_systems_and_systems_without_wallets(client, plugin_shop):
    m = plugin_shop["merchant"]
    mps = plugin_shop["mps_n"]
    mps.enabled = False
    mps.save()
    assert [p["code"] for p in config(client, m).get_json()["payment_systems"]] == ["bkash"]
    Wallet.update(active=False).where(Wallet.merchant == m).execute()
    assert config(client, m).get_json()["payment_systems"] == []
    Wallet.update(active=True).where(Wallet.merchant == m).execute()
    assert [p["code"] for p in config(client, m, payment_systems="nagad,bkash").get_json()["payment_systems"]] == \
        ["bkash"]


def test_config_errors(client, plugin_shop):
    assert client.get("/plugin/api/config").status_code == 400
    response = client.get("/plugin/api/config?merchant=pk_nobody")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    m = plugin_shop["merchant"]
    m.active = False
    m.save()
    assert config(client, m).status_code == 403


def test_wallet_choice_spreads_visitors_over_active_wallets(plugin_shop):
    wallets = plugin_shop["wallets"]
    today = datetime.date(2026, 12, 6)
    counts = Counter(choose(wallets, today, f"label-{i}").id for i in range(600))
    assert set(counts) == {w.id for w in wallets}
    assert min(counts.values()) > 120  # roughly a third each
    assert choose(wallets, today, "same") == choose(list(reversed(wallets)), today, "same")
    assert choose([], today, "x") is None


def test_cors_only_for_the_merchants_allowed_origins(client, plugin_shop):
    m = plugin_shop["merchant"]
    good = client.get(f"/plugin/api/config?merchant={m.public_key}", headers={"Origin": "https://shop.example"})
    assert good.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Origin" in good.headers["Vary"]
    bad = client.get(f"/plugin/api/config?merchant={m.public_key}", headers={"Origin": "https://other.example"})
    assert "Access-Control-Allow-Origin" not in bad.headers
    assert "Access-Control-Allow-Credentials" not in good.headers
    # preflight of the activation API, with and without the merchant in the query
    pre = client.options(f"/plugin/api/activate?merchant={m.public_key}",
                         headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Headers"] == "Content-Type"
    # without a merchant in the query a preflight is granted to nobody (issue 17, class 7)
    pre = client.options("/plugin/api/activate", headers={"Origin": "https://shop.example",
                                                          "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in pre.headers
    pre = client.options("/plugin/api/activate", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in pre.headers
    post = client.post("/plugin/api/activate", headers={"Origin": "https://other.example"},
                       json={"merchant": m.public_key, "payment_system": "bkash", "transaction_number": "N",
                             "label": "v"})
    assert post.status_code == 200 and "Access-Control-Allow-Origin" not in post.headers
    post = client.post("/plugin/api/activate", headers={"Origin": "https://shop.example"},
                       json={"merchant": m.public_key, "payment_system": "bkash", "transaction_number": "N",
                             "label": "v"})
    assert post.headers["Access-Control-Allow-Origin"] == "https://shop.example"


def test_config_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/plugin/api/config"]
    assert "put" in paths["/api/v1/plugin/theme"] and "put" in paths["/api/v1/plugin/prompts/{payment_system}"]


# -- merchant API -------------------------------------------------------------------------
def auth(merchant):
    return {"Authorization": "Bearer " + merchant.api_key}


def gif_bytes(frames=3):
    images = [Image.new("P", (20, 10), i) for i in range(frames)]
    for im in images:
        im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=100, comment=b"hidden")
    return out.getvalue()


def test_put_theme(client, plugin_shop):
    m = plugin_shop["merchant"]
    response = client.put("/api/v1/plugin/theme", data="a { color: red }\n.b{background:#fff}",
                          headers=dict(auth(m), **{"Content-Type": "text/css"}))
    assert response.status_code == 200, response.get_json()
    url = response.get_json()["url"]
    stored = Merchant.get_by_id(m.id)
    assert stored.theme == "own" and stored.own_css.startswith("a {\n  color: red;")
    assert stored.own_css_hash[:16] in url
    sheet = client.get(url)
    assert sheet.status_code == 200 and sheet.mimetype == "text/css"
    assert sheet.get_data(as_text=True) == stored.own_css
    assert sheet.headers["X-Content-Type-Options"] == "nosniff"
    assert config(client, m).get_json()["theme_url"] == url
    assert client.get(url.replace(stored.own_css_hash[:16], "0" * 16)).status_code == 404
    assert AuditLog.select().where(AuditLog.action == "plugin.theme").count() == 1

    refused = client.put("/api/v1/plugin/theme", data="a {\n  background: url(//x) }\n@import 'y';",
                         headers=dict(auth(m), **{"Content-Type": "text/css"}))
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "invalid_css"
    assert {(d["line"], d["column"]) for d in error["details"]} == {(2, 15), (3, 1)}
    assert all(d["reason"] for d in error["details"])
    assert Merchant.get_by_id(m.id).own_css == stored.own_css  # unchanged
    big = client.put("/api/v1/plugin/theme", data="a{}" * 30000, headers=auth(m))
    assert big.status_code == 422 and big.get_json()["error"]["code"] == "invalid_css"


def test_merchant_api_auth(client, plugin_shop):
    m = plugin_shop["merchant"]
    assert client.put("/api/v1/plugin/theme", data="a{}").status_code == 401
    assert client.put("/api/v1/plugin/theme", data="a{}", headers={"Authorization": "Bearer sk_nope"}).status_code \
        == 401
    m.active = False
    m.save()
    assert client.put("/api/v1/plugin/theme", data="a{}", headers=auth(m)).status_code == 403
    assert client.put("/api/v1/plugin/prompts/bkash", data=gif_bytes(), headers=auth(m)).status_code == 403


def test_put_prompt(client, plugin_shop):
    m = plugin_shop["merchant"]
    response = client.put("/api/v1/plugin/prompts/bkash", data=gif_bytes(),
                          headers=dict(auth(m), **{"Content-Type": "image/gif"}))
    assert response.status_code == 200, response.get_json()
    url = response.get_json()["url"]
    name = MerchantPaymentSystem.get_by_id(plugin_shop["mps_b"].id).gif_prompt
    assert name and url.endswith("/plugin/v1/prompts/" + name)
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/gif"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert b"hidden" not in served.get_data()
    assert config(client, m).get_json()["payment_systems"][0]["prompt_url"] == url
    # replace: the old file goes
    again = client.put("/api/v1/plugin/prompts/bkash", data=gif_bytes(2), headers=auth(m))
    assert again.status_code == 200 and client.get(url).status_code == 404
    # refused uploads name the rule
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, format="PNG")
    bad = client.put("/api/v1/plugin/prompts/bkash", data=png.getvalue(), headers=auth(m))
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "invalid_gif"
    assert bad.get_json()["error"]["details"][0]["rule"] == "not_gif"
    assert client.put("/api/v1/plugin/prompts/upi", data=gif_bytes(), headers=auth(m)).status_code == 404
    # another merchant's key cannot touch this merchant's prompt
    other = plugin_shop["other"]
    before = MerchantPaymentSystem.get_by_id(plugin_shop["mps_b"].id).gif_prompt
    assert client.put("/api/v1/plugin/prompts/nagad", data=gif_bytes(), headers=auth(other)).status_code == 404
    assert MerchantPaymentSystem.get_by_id(plugin_shop["mps_b"].id).gif_prompt == before
    assert client.get("/plugin/v1/prompts/..%2Fsecret_key").status_code == 404


def test_config_is_rate_limited_per_address(app_config, plugin_shop):
    from backoffice import create_app

    app_config.update(PLUGIN_CONFIG_LIMIT="3 per minute")
    client = create_app(app_config).test_client()
    m = plugin_shop["merchant"]
    codes = [config(client, m).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert config(client, m).get_json()["error"]["code"] == "too_many_requests"
