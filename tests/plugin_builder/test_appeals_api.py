"""The plugin's appeals API (SPEC §12): ``POST /plugin/api/appeals`` (multipart) and
``GET /plugin/api/appeals/<id>?merchant=PK``.

A visitor files "I paid, but it is not credited" and gets a reference (``apl_…``); the
same number again gives back that appeal; every faulty field is named; a payment stated
in the future is refused; the merchant's signed labels are required as for the
activation; a visitor has a bounded number of open appeals and an address a bounded
number of requests. The receipt picture is stored re-encoded: a script hidden in a PNG
text chunk and a JPEG's EXIF do not survive; a file that is no picture, or too large, is
refused and nothing is stored. The visitor reads the state (a rejection's reason too)
with the merchant's public key; another merchant's key finds nothing.
"""
import datetime
import io
import json
import re
import struct
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from markupsafe import escape
from PIL import Image, PngImagePlugin

import factories
from backoffice import create_app
from backoffice.models import Appeal, AppealReceipt, utcnow
from backoffice.plugin_builder.messages import LANGUAGES, MESSAGES, SCRIPT_KEYS, Words
from backoffice.plugin_builder.signing import label_signature
from backoffice.services import appeals
from backoffice.services.ingest import Report, ingest

MiB = 1024 * 1024


@pytest.fixture
def app_config(app_config):
    """Room for the many requests of one test (the address limit has a test of its own)."""
    app_config["PLUGIN_APPEAL_LIMIT"] = "500 per minute"
    return app_config


@pytest.fixture
def shop(app, conn):
    bkash = factories.payment_system("bkash", "BDT", name="bKash")
    factories.payment_system("nagad", "BDT", name="Nagad")  # not enabled for the shop
    a, b = factories.merchant(name="A"), factories.merchant(name="B")
    for m in (a, b):
        factories.merchant_payment_system(m, bkash, min_deposit="500.00")
    wallet = factories.wallet(a, bkash, number="01712345678")
    operator = factories.user("operator")
    return dict(a=a, b=b, ps=bkash, wallet=wallet, operator=operator)


def iso(moment):
    return moment.replace(microsecond=0).isoformat() + "Z"


def fields(shop_merchant, **extra):
    data = {"merchant": shop_merchant.public_key, "payment_system": "bkash", "transaction_number": "TRX-APL-1",
            "amount": "900.00", "sender": "01711114321", "paid_at": iso(utcnow() - datetime.timedelta(hours=1)),
            "label": "visitor-1"}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data, receipt=None, query=""):
    if receipt is not None:
        data = dict(data, receipt=receipt)
    return client.post("/plugin/api/appeals" + query, data=data, content_type="multipart/form-data")


def state(client, public_id, merchant):
    return client.get(f"/plugin/api/appeals/{public_id}?merchant={merchant.public_key}")


def detail_fields(response):
    return {d["field"] for d in response.get_json()["error"]["details"]}


# ---- pictures -------------------------------------------------------------------

def png_bytes(size=(40, 30), text=None):
    image = Image.new("RGB", size, (200, 40, 40))
    info = None
    if text is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", text)  # a tEXt chunk
        info.add_itxt("Description", text)  # an iTXt chunk
        info.add_text("Software", text, zip=True)  # a zTXt chunk
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def png_chunks(data):
    """The chunk types of a PNG file, in order (its structure, parsed by hand)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, types = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        types.append(kind.decode("ascii"))
        pos += 12 + length
    return types


def jpeg_with_exif():
    image = Image.new("RGB", (64, 48), (30, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x0131] = "<script>alert(1)</script>"  # Software
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def noise_png(target):
    """A PNG of random pixels (it does not compress) of a little under ``target`` bytes."""
    import os

    width = 800
    height = target // (width * 3)
    while True:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        out = io.BytesIO()
        image.save(out, format="PNG")
        if len(out.getvalue()) <= target:
            return out.getvalue()
        height -= 1


def stored_receipt(public_id):
    appeal = Appeal.get(Appeal.public_id == public_id)
    return appeal, AppealReceipt.get(AppealReceipt.appeal == appeal.id)


# ---- filing and reading ---------------------------------------------------------

def test_an_appeal_is_filed_and_read_back(client, shop):
    paid_at = utcnow().replace(microsecond=0) - datetime.timedelta(minutes=40)
    response = post(client, fields(shop["a"], order_id="order-7", paid_at=iso(paid_at)))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"id", "status"} and body["status"] == "open"
    assert body["id"].startswith("apl_") and len(body["id"]) == appeals.ID_LENGTH
    appeal = Appeal.get(Appeal.public_id == body["id"])
    assert (appeal.merchant_id, appeal.payment_system_id, appeal.label, appeal.order_id) == (
        shop["a"].id, shop["ps"].id, "visitor-1", "order-7")
    assert (appeal.transaction_number, appeal.amount, appeal.currency, appeal.sender) == (
        "TRX-APL-1", Decimal("900.00"), "BDT", "01711114321")
    assert appeal.paid_at == paid_at and appeal.status == "open" and not appeal.has_receipt
    assert AppealReceipt.select().count() == 0

    read = state(client, body["id"], shop["a"])
    assert read.status_code == 200 and read.get_json() == {"id": body["id"], "status": "open"}
    assert read.headers["Cache-Control"] == "no-store"


def test_the_time_as_the_plugin_sends_it_with_milliseconds(client, shop):
    """``new Date(value).toISOString()`` in the page: ``…T10:00:00.000Z``."""
    paid_at = (utcnow() - datetime.timedelta(hours=2)).replace(second=0, microsecond=0)
    response = post(client, fields(shop["a"], paid_at=paid_at.isoformat() + ".000Z"))
    assert response.status_code == 201
    assert Appeal.get(Appeal.public_id == response.get_json()["id"]).paid_at == paid_at
    # a stated offset is honoured: 16:30 at +05:30 is 11:00 UTC
    local = (paid_at + datetime.timedelta(hours=5, minutes=30)).isoformat() + "+05:30"
    response = post(client, fields(shop["a"], transaction_number="TRX-APL-2", paid_at=local))
    assert Appeal.get(Appeal.public_id == response.get_json()["id"]).paid_at == paid_at


def test_the_same_number_again_gives_back_the_open_appeal(client, shop):
    first = post(client, fields(shop["a"]))
    assert first.status_code == 201
    again = post(client, fields(shop["a"], amount="950.00", sender="someone else"))
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert Appeal.select().count() == 1
    assert Appeal.get().amount == Decimal("900.00")  # the first statement stands
    # another visitor's appeal for that number is their own
    other = post(client, fields(shop["a"], label="visitor-2"))
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    # once the first is resolved, the same visitor may appeal the number anew
    with factories.APP.app_context():
        appeals.reject(Appeal.get(Appeal.public_id == first.get_json()["id"]).id, "No such payment.",
                       shop["operator"])
    anew = post(client, fields(shop["a"]))
    assert anew.status_code == 201 and anew.get_json()["id"] not in (first.get_json()["id"], other.get_json()["id"])


def test_missing_fields_are_each_named(client, shop):
    response = post(client, {"merchant": shop["a"].public_key})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert detail_fields(response) == {"payment_system", "transaction_number", "amount", "sender", "paid_at",
                                       "label"}
    response = post(client, {})
    assert "merchant" in detail_fields(response)
    # blank is missing
    response = post(client, fields(shop["a"], sender="   ", transaction_number=""))
    assert response.status_code == 400 and detail_fields(response) == {"sender", "transaction_number"}
    assert Appeal.select().count() == 0


@pytest.mark.parametrize("field, value", [
    ("amount", "abc"),
    ("amount", "900.001"),
    ("amount", "-5.00"),
    ("amount", "0"),
    ("paid_at", "yesterday"),
    ("paid_at", "2026-13-40T10:00:00Z"),
    ("paid_at", "2026-03-10T10:00:00"),  # a time without its offset is ambiguous
    ("paid_at", "2026-03-10"),  # a day is no moment
    ("sender", "x" * 101),
    ("sender", "0171\x001234"),
    ("transaction_number", "T" * 101),
    ("label", "l" * 256),
])
def test_an_invalid_field_is_named(client, shop, field, value):
    response = post(client, fields(shop["a"], **{field: value}))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert detail_fields(response) == {field}
    assert Appeal.select().count() == 0


def test_invalid_fields_are_named_together(client, shop):
    response = post(client, fields(shop["a"], amount="lots", paid_at="soon", sender="s" * 200))
    assert response.status_code == 400 and detail_fields(response) == {"amount", "paid_at", "sender"}


def test_a_payment_in_the_future_or_too_old_is_refused(client, shop):
    future = post(client, fields(shop["a"], paid_at=iso(utcnow() + datetime.timedelta(hours=2))))
    assert future.status_code == 400 and detail_fields(future) == {"paid_at"}
    old = post(client, fields(shop["a"], paid_at=iso(utcnow() - datetime.timedelta(days=120))))
    assert old.status_code == 400 and detail_fields(old) == {"paid_at"}
    assert Appeal.select().count() == 0
    # a visitor's clock a few minutes fast is forgiven
    fast = post(client, fields(shop["a"], paid_at=iso(utcnow() + datetime.timedelta(minutes=3))))
    assert fast.status_code == 201


def test_unknown_merchant_or_payment_system(client, shop):
    response = post(client, fields(shop["a"], merchant="pk_nobody"))
    assert response.status_code == 400 and detail_fields(response) == {"merchant"}
    response = post(client, fields(shop["a"], payment_system="nagad"))  # not enabled for the shop
    assert response.status_code == 400 and detail_fields(response) == {"payment_system"}
    response = post(client, fields(shop["a"], payment_system="nope"))
    assert response.status_code == 400 and detail_fields(response) == {"payment_system"}
    assert Appeal.select().count() == 0


def test_a_disabled_merchant_takes_no_appeal(client, shop):
    a = shop["a"]
    a.active = False
    a.save()
    response = post(client, fields(a))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "merchant_disabled"
    assert Appeal.select().count() == 0


def test_signed_labels_are_required_when_the_merchant_signs_them(client, shop):
    a = shop["a"]
    a.require_signed_labels = True
    a.save()
    for signature in (None, "00" * 32, label_signature(a.plugin_secret, "someone-else", "o-1"),
                      label_signature(a.plugin_secret, "visitor-1", "o-2")):
        response = post(client, fields(a, order_id="o-1", signature=signature))
        assert response.status_code == 403, signature
        assert response.get_json()["error"]["code"] == "bad_signature"
    assert Appeal.select().count() == 0
    good = post(client, fields(a, order_id="o-1", signature=label_signature(a.plugin_secret, "visitor-1", "o-1")))
    assert good.status_code == 201
    # a merchant that does not require them still refuses a wrong one
    b = shop["b"]
    response = post(client, fields(b, signature="00" * 32))
    assert response.status_code == 403


def test_a_visitor_has_a_bounded_number_of_open_appeals(app_config, shop):
    client = create_app(dict(app_config, APPEALS_OPEN_PER_LABEL=2)).test_client()
    ids = [post(client, fields(shop["a"], transaction_number=f"N-{i}")).get_json()["id"] for i in range(2)]
    third = post(client, fields(shop["a"], transaction_number="N-2"))
    assert third.status_code == 409 and detail_fields(third) == {"transaction_number"}
    assert third.get_json()["error"]["code"] == "too_many_open_appeals"
    assert "2" in third.get_json()["error"]["message"]
    # an open one asked about again is still answered (it is no new appeal)
    assert post(client, fields(shop["a"], transaction_number="N-0")).status_code == 200
    # another visitor has their own allowance
    assert post(client, fields(shop["a"], label="visitor-2", transaction_number="N-2")).status_code == 201
    # a resolved appeal frees a place
    with factories.APP.app_context():
        appeals.reject(Appeal.get(Appeal.public_id == ids[0]).id, "Not found in the wallet's history.",
                       shop["operator"])
    assert post(client, fields(shop["a"], transaction_number="N-2")).status_code == 201
    assert Appeal.select().where(Appeal.label == "visitor-1").count() == 3


def test_an_address_has_a_bounded_number_of_requests(app_config, shop):
    client = create_app(dict(app_config, PLUGIN_APPEAL_LIMIT="3 per minute")).test_client()
    statuses = [post(client, fields(shop["a"], transaction_number=f"R-{i}")).status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    response = post(client, fields(shop["a"], transaction_number="R-9", label="another"))
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "too_many_requests"
    assert Appeal.select().count() == 3


# ---- the receipt ----------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"


def test_a_png_with_a_script_in_its_text_chunks_is_stored_re_encoded(client, shop):
    original = png_bytes(size=(40, 30), text=SCRIPT)
    assert b"<script" in original and {"tEXt", "iTXt", "zTXt"} <= set(png_chunks(original))  # the payload is there
    response = post(client, fields(shop["a"]), receipt=(io.BytesIO(original), "receipt.png", "image/png"))
    assert response.status_code == 201, response.get_data(as_text=True)
    appeal, receipt = stored_receipt(response.get_json()["id"])
    assert appeal.has_receipt and receipt.content_type == "image/png"
    data = bytes(receipt.data)
    assert b"<script" not in data and b"alert(1)" not in data
    chunks = png_chunks(data)
    assert not {"tEXt", "iTXt", "zTXt"} & set(chunks)
    assert chunks[0] == "IHDR" and chunks[-1] == "IEND"
    with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
        image.load()
        assert image.size == (40, 30) and not image.text
        assert image.getpixel((5, 5))[:3] == (200, 40, 40)  # the picture itself is kept
    # the visitor's state says nothing of the picture
    assert state(client, appeal.public_id, shop["a"]).get_json() == {"id": appeal.public_id, "status": "open"}


def test_a_jpeg_is_stored_without_its_exif(client, shop):
    original = jpeg_with_exif()
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get(0x010F) == "SpyCam"  # the metadata is there to begin with
    response = post(client, fields(shop["a"]), receipt=(io.BytesIO(original), "photo.jpg", "image/jpeg"))
    assert response.status_code == 201, response.get_data(as_text=True)
    _appeal, receipt = stored_receipt(response.get_json()["id"])
    data = bytes(receipt.data)
    assert receipt.content_type == "image/jpeg"
    assert b"Exif" not in data and b"SpyCam" not in data and b"<script" not in data
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
        image.load()
        assert image.size == (64, 48) and len(image.getexif()) == 0 and "exif" not in image.info


@pytest.mark.parametrize("data, name, mime", [
    (b"GIF89a" + b"\x00" * 64, "receipt.gif", "image/gif"),
    (b"<html><script>alert(1)</script></html>", "receipt.png", "image/png"),
    (b"%PDF-1.4\n" + b"x" * 100, "receipt.pdf", "application/pdf"),
    (png_bytes()[:60], "cut.png", "image/png"),  # a PNG cut short: it does not decode
])
def test_a_receipt_that_is_not_a_sound_picture_is_refused(client, shop, data, name, mime):
    response = post(client, fields(shop["a"]), receipt=(io.BytesIO(data), name, mime))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert detail_fields(response) == {"receipt"}
    assert Appeal.select().count() == 0 and AppealReceipt.select().count() == 0


@pytest.mark.parametrize("size", [2 * MiB + 1, 3 * MiB])
def test_a_receipt_over_2_mib_is_refused_and_nothing_is_stored(client, shop, size):
    data = png_bytes() + b"\x00" * (size - len(png_bytes()))
    response = post(client, fields(shop["a"]), receipt=(io.BytesIO(data), "big.png", "image/png"))
    assert response.status_code in (413, 422), response.status_code
    assert "error" in response.get_json()
    if response.status_code == 422:
        assert detail_fields(response) == {"receipt"}
    assert Appeal.select().count() == 0 and AppealReceipt.select().count() == 0


def test_a_picture_of_almost_2_mib_is_accepted(client, shop):
    """The request's own limit leaves room for the form's fields beside a 2 MiB picture
    (the app's limit for other requests is 2 MiB in all)."""
    data = noise_png(2 * MiB - 2048)
    assert 2 * MiB - 64 * 1024 < len(data) <= 2 * MiB
    response = post(client, fields(shop["a"]), receipt=(io.BytesIO(data), "screen.png", "image/png"))
    assert response.status_code == 201, response.get_data(as_text=True)[:500]
    _appeal, receipt = stored_receipt(response.get_json()["id"])
    with Image.open(io.BytesIO(bytes(receipt.data)), formats=["PNG"]) as image:
        assert image.size[0] == 800


def test_an_empty_file_field_is_no_receipt(client, shop):
    """A form sent with its file input left empty has the part, with no name and no bytes."""
    response = post(client, fields(shop["a"]), receipt=(io.BytesIO(b""), ""))
    assert response.status_code == 201
    assert not Appeal.get().has_receipt and AppealReceipt.select().count() == 0


# ---- the visitor's view of the outcome ------------------------------------------

def test_a_rejected_appeal_shows_its_reason(client, shop):
    public_id = post(client, fields(shop["a"])).get_json()["id"]
    reason = "We found no payment <b>TRX-APL-1</b> in the wallet's history."
    with factories.APP.app_context():
        appeals.reject(Appeal.get(Appeal.public_id == public_id).id, reason, shop["operator"])
    response = state(client, public_id, shop["a"])
    assert response.status_code == 200
    assert response.get_json() == {"id": public_id, "status": "rejected", "reason": reason}
    assert response.mimetype == "application/json"


def test_a_matched_appeal_reads_matched(client, shop):
    with factories.APP.app_context():
        tx = ingest(Report("bkash", shop["wallet"].number, "TRX-LATE-1", Decimal("900.00"), "BDT")).transaction
    public_id = post(client, fields(shop["a"], transaction_number="TRX-LATE-0")).get_json()["id"]
    with factories.APP.app_context():
        outcome = appeals.match(Appeal.get(Appeal.public_id == public_id).id, tx.id, shop["operator"])
    assert outcome.status == "activated"
    assert state(client, public_id, shop["a"]).get_json() == {"id": public_id, "status": "matched"}


def test_only_the_merchants_own_key_reads_an_appeal(client, shop):
    public_id = post(client, fields(shop["a"])).get_json()["id"]
    assert state(client, public_id, shop["b"]).status_code == 404
    assert state(client, public_id, shop["b"]).get_json()["error"]["code"] == "not_found"
    assert client.get(f"/plugin/api/appeals/{public_id}").status_code == 404  # no key at all
    assert client.get(f"/plugin/api/appeals/{public_id}?merchant=pk_nobody").status_code == 404
    assert state(client, "apl_" + "x" * 22, shop["a"]).status_code == 404
    assert state(client, "nope", shop["a"]).status_code == 404
    assert state(client, public_id, shop["a"]).status_code == 200


# ---- the plugin page's side ------------------------------------------------------

APPEAL_KEYS = [key for key in MESSAGES if key.startswith(("appeal_", "appeals_"))]


def test_the_appeal_words_exist_in_every_language():
    assert len(APPEAL_KEYS) >= 20
    english = Words("en")
    for language in LANGUAGES:
        words = Words(language)
        for key in APPEAL_KEYS:
            text = words.text(key)
            assert text, (language, key)
            # the same placeholders as the English (the page fills them in)
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", english.text(key))), \
                (language, key)
    russian = Words("ru")
    for key in APPEAL_KEYS:  # Russian is Russian, not English left untranslated
        assert russian.text(key) != english.text(key) and re.search("[а-яё]", russian.text(key), re.I), key
    assert english.text("appeal_state_rejected").count("{reason}") == 1
    # what the script says is handed to it
    needed = {"appeal_number_invalid", "appeal_sender_invalid", "appeal_paid_at_invalid", "appeal_receipt_too_large",
              "appeal_receipt_invalid", "appeal_sent", "appeal_already", "appeal_ref", "appeal_next", "appeal_item",
              "appeal_state_open", "appeal_state_matched", "appeal_state_rejected"}
    assert needed <= set(SCRIPT_KEYS)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_carries_the_appeal_form_hidden_until_needed(client, shop, lang):
    words = {key: str(escape(text)) for key, text in Words(lang).all().items()}  # as the page's HTML has them
    script_words = Words(lang).all()
    query = urlencode(dict(merchant=shop["a"].public_key, label="visitor-1", lang=lang))
    response = client.get("/plugin/v1/page?" + query)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "form-action 'none'" in csp and "connect-src 'self'" in csp  # the form goes by fetch
    next_step = re.search(r'<div id="bo-next"[^>]*>', text).group(0)
    assert " hidden" in next_step
    form = re.search(r'<form id="bo-appeal"[^>]*>', text).group(0)
    assert " hidden" in form and "novalidate" in form and 'aria-labelledby="bo-appeal-h"' in form
    assert f'data-testid="appeal-open">{words["appeal_open"]}</button>' in text
    for field_id, key in (("bo-ap-number", "appeal_number_label"), ("bo-ap-amount", "amount_label"),
                          ("bo-ap-sender", "appeal_sender_label"), ("bo-ap-paid-at", "appeal_paid_at_label"),
                          ("bo-ap-receipt", "appeal_receipt_label")):
        assert f'<label for="{field_id}" class="bo-label">{words[key]}</label>' in text
        assert f'id="{field_id}-error"' in text  # each field's own error note
    assert 'type="datetime-local"' in text and 'accept="image/png,image/jpeg"' in text
    assert 'data-currency="BDT"' in text
    settings = json.loads(re.search(r'<script type="application/json" id="bo-settings">(.*?)</script>', text,
                                    re.S).group(1))
    assert settings["messages"]["appeal_state_matched"] == script_words["appeal_state_matched"]
    assert "style=" not in text and "onclick" not in text  # the CSP allows no inline style or script
