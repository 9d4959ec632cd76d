"""Withdrawal controls (SPEC §14): the merchant's cancel, two operators above a
threshold, the payout reference and receipt, and bulk approval from a CSV file."""
import io
import json
import struct
import zlib
from collections import Counter
from decimal import Decimal

import pytest
from helpers import run_threads
from PIL import Image
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.models import AuditLog, Balance, Event, LedgerEntry, Merchant, Postback, Withdrawal, WithdrawalReceipt
from backoffice.services import merchant_settings, receipts
from backoffice.services import withdrawals as service
from backoffice.services.checks import SettingsError


HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def world(ctx):
    ps = seed_payment_systems()["bkash"]
    m = factories.merchant(name="Alpha", postback_url=HOOK)  # one endpoint: an event is one delivery
    wallet = factories.wallet(m, ps, number="01911111111")
    fund(m, ps, amount="2000.00", wallet=wallet)  # 1975.00 BDT available (25.00 commission)
    owner = factories.user("merchant_owner", merchant=m)
    return dict(ps=ps, m=m, wallet=wallet, owner=owner,
                op1=factories.user("operator"), op2=factories.user("operator"), op3=factories.user("operator"))


def request(world, amount="500.00", withdrawal_id="wd-1", merchant=None):
    w, _ = service.create_withdrawal(merchant or world["m"], world["ps"], amount, "BDT", label="user-9",
                                     fields=VALID_FIELDS["bkash"], withdrawal_id=withdrawal_id, kind="api")
    return w


def balance(merchant):
    row = Balance.get((Balance.merchant == merchant.id) & (Balance.currency == "BDT"))
    return row.available, row.on_hold


def entries(withdrawal):
    return [(e.kind, e.amount, e.hold) for e in LedgerEntry.select().where(
        (LedgerEntry.source_type == "withdrawal") & (LedgerEntry.source_id == withdrawal.id)).order_by(LedgerEntry.id)]


def set_threshold(merchant, value):
    Merchant.update(withdrawal_dual_approval_above=value).where(Merchant.id == merchant.id).execute()


# -- the merchant's cancel ---------------------------------------------------------------------------
def test_cancel_releases_the_hold_and_sends_the_postback(world):
    w = request(world)
    assert balance(world["m"]) == (Decimal("1475.00"), Decimal("500.00"))
    cancelled = service.cancel(w, actor=world["owner"], merchant=world["m"], ip="10.0.0.1")
    assert cancelled.status == "cancelled" and cancelled.decided_at is not None
    assert cancelled.decided_by_id == world["owner"].id and cancelled.postback_status == "pending"
    assert balance(world["m"]) == (Decimal("1975.00"), Decimal("0.00"))
    assert entries(w) == [("withdrawal_hold", Decimal("-500.00"), Decimal("500.00")),
                          ("withdrawal_release", Decimal("500.00"), Decimal("-500.00"))]
    (pb,) = Postback.select()
    body = json.loads(pb.payload)
    assert (pb.event_type, pb.object_type, pb.object_id) == ("withdrawal.cancelled", "withdrawal", w.id)
    assert body["type"] == "withdrawal.cancelled" and body["data"]["status"] == "cancelled"
    assert body["data"]["withdrawal_id"] == "wd-1" and body["data"]["payout_reference"] is None
    assert set(body["data"]) == set(service.payload_data(Withdrawal.get_by_id(w.id)))
    entry = AuditLog.get(AuditLog.action == "withdrawal.cancel")
    assert entry.user_id == world["owner"].id and entry.merchant_id == world["m"].id and entry.ip == "10.0.0.1"
    assert entry.summary["status"] == {"before": "new", "after": "cancelled"}


def test_cancel_by_another_merchant_is_not_found_and_changes_nothing(world):
    w = request(world)
    other = factories.merchant()
    with pytest.raises(service.NotFound):
        service.cancel(w, merchant=other)
    assert Withdrawal.get_by_id(w.id).status == "new" and Postback.select().count() == 0
    assert balance(world["m"]) == (Decimal("1475.00"), Decimal("500.00"))


def test_cancel_after_a_decision_is_refused(world):
    w = request(world)
    service.approve(w, world["op1"], world["wallet"], "TRX-1")
    with pytest.raises(service.AlreadyDecided) as refused:
        service.cancel(w, merchant=world["m"])
    assert "cannot be cancelled: it is approved already" in refused.value.message
    assert refused.value.status == 409
    rejected = request(world, amount="10.00", withdrawal_id="wd-2")
    service.reject(rejected, world["op1"], "no")
    with pytest.raises(service.AlreadyDecided):
        service.cancel(rejected, merchant=world["m"])
    cancelled = request(world, amount="10.00", withdrawal_id="wd-3")
    service.cancel(cancelled, merchant=world["m"])
    with pytest.raises(service.AlreadyDecided):
        service.cancel(cancelled, merchant=world["m"])
    with pytest.raises(service.AlreadyDecided):  # and an operator cannot approve it any more
        service.approve(cancelled, world["op1"], world["wallet"], "TRX-3")
    assert Withdrawal.get_by_id(w.id).status == "approved"
    assert [kind for kind, *_ in entries(w)] == ["withdrawal_hold", "withdrawal_payout"]
    assert [kind for kind, *_ in entries(cancelled)] == ["withdrawal_hold", "withdrawal_release"]
    assert Postback.select().where(Postback.event_type == "withdrawal.cancelled").count() == 1


def test_cancel_racing_an_approval_decides_once_and_books_once(app, world):
    rounds = []
    for i in range(6):  # each round is a real race between two connections
        rounds.append(request(world, amount="10.00", withdrawal_id=f"race-{i}").id)
    for wid in rounds:
        def decide(i, wid=wid):
            try:
                if i == 0:
                    service.approve(wid, world["op1"].id, world["wallet"].id, "TRX-race")
                    return "approved"
                service.cancel(wid, merchant=world["m"].id)
                return "cancelled"
            except service.AlreadyDecided:
                return "lost"

        outcomes = run_threads(app, 2, decide)
        assert sorted(outcomes) in (["approved", "lost"], ["cancelled", "lost"]), outcomes
        winner = next(o for o in outcomes if o != "lost")
        w = Withdrawal.get_by_id(wid)
        assert w.status == winner
        second = "withdrawal_payout" if winner == "approved" else "withdrawal_release"
        assert [kind for kind, *_ in entries(w)] == ["withdrawal_hold", second]
        (pb,) = Postback.select().where(Postback.object_id == wid)
        assert pb.event_type == f"withdrawal.{winner}"
    approved = Withdrawal.select().where(Withdrawal.status == "approved").count()
    assert balance(world["m"]) == (Decimal("1975.00") - 10 * approved, Decimal("0.00"))


# -- two operators above a threshold -------------------------------------------------------------------
def test_above_the_threshold_two_different_operators_approve(world):
    set_threshold(world["m"], Decimal("300.00"))
    w = request(world, amount="500.00")
    assert service.approvals_required(w) == 2 and service.approval_stage(w, world["op1"]) == "first"

    first = service.approve(w, world["op1"])  # the first approval needs no wallet nor reference
    assert first.status == "new" and first.first_approved_by_id == world["op1"].id
    assert first.first_approved_at is not None and first.decided_at is None
    assert [kind for kind, *_ in entries(w)] == ["withdrawal_hold"]
    assert Postback.select().count() == 0  # the merchant hears of the decision only
    assert AuditLog.get(AuditLog.action == "withdrawal.approve_first").user_id == world["op1"].id
    assert service.approval_stage(first, world["op1"]) == "own_first"
    assert service.approval_stage(first, world["op2"]) == "decides"

    with pytest.raises(service.SecondApprovalRequired):  # the same operator cannot give the second
        service.approve(w.id, world["op1"], world["wallet"], "TRX-1")
    with pytest.raises(service.ValidationFailed) as invalid:  # the deciding one records the payout
        service.approve(w.id, world["op2"], world["wallet"], "  ")
    assert [d["field"] for d in invalid.value.details] == ["payout_reference"]
    assert Withdrawal.get_by_id(w.id).status == "new"

    done = service.approve(w.id, world["op2"], world["wallet"], " TRX-77 ")
    assert done.status == "approved" and done.decided_by_id == world["op2"].id
    assert done.first_approved_by_id == world["op1"].id and done.payout_reference == "TRX-77"
    assert [kind for kind, *_ in entries(w)] == ["withdrawal_hold", "withdrawal_payout"]
    assert balance(world["m"]) == (Decimal("1475.00"), Decimal("0.00"))
    summary = AuditLog.get(AuditLog.action == "withdrawal.approve").summary
    assert summary["first_approved_by"] == world["op1"].id and summary["payout_reference"] == "TRX-77"
    (pb,) = Postback.select()
    assert pb.event_type == "withdrawal.approved"


def test_at_or_below_the_threshold_one_approval_decides(world):
    set_threshold(world["m"], Decimal("300.00"))
    below, at = request(world, amount="200.00"), request(world, amount="300.00", withdrawal_id="wd-2")
    for w in (below, at):
        assert service.approvals_required(w) == 1
        assert service.approve(w, world["op1"], world["wallet"], "TRX").status == "approved"
    set_threshold(world["m"], None)  # null: never
    big = request(world, amount="1000.00", withdrawal_id="wd-3")
    assert service.approve(big, world["op1"], world["wallet"], "TRX").status == "approved"
    set_threshold(world["m"], Decimal("0.00"))  # zero: every request
    small = request(world, amount="0.01", withdrawal_id="wd-4")
    assert service.approve(small, world["op1"]).status == "new"


def test_two_first_approvals_at_once_record_one(app, world):
    set_threshold(world["m"], Decimal("1.00"))
    for i in range(4):
        w = request(world, amount="10.00", withdrawal_id=f"first-{i}")
        ops = [world["op1"].id, world["op2"].id]

        def approve(i, wid=w.id):
            try:
                return service.approve(wid, ops[i]).status
            except service.ApprovalChanged:  # the other's landed while this one was being given
                return "changed"
            except service.ValidationFailed:  # it landed before: this one would decide (no wallet given)
                return "changed"

        outcomes = run_threads(app, 2, approve)
        assert sorted(outcomes) == ["changed", "new"], outcomes
        fresh = Withdrawal.get_by_id(w.id)
        assert fresh.status == "new" and fresh.first_approved_by_id in ops
        assert AuditLog.select().where((AuditLog.action == "withdrawal.approve_first")
                                       & (AuditLog.object_id == str(w.id))).count() == 1


def test_two_second_approvals_at_once_decide_once(app, world):
    set_threshold(world["m"], Decimal("1.00"))
    for i in range(4):
        w = service.approve(request(world, amount="10.00", withdrawal_id=f"second-{i}"), world["op1"])
        ops = [world["op2"].id, world["op3"].id]

        def approve(i, wid=w.id):
            try:
                return service.approve(wid, ops[i], world["wallet"].id, f"TRX-{i}").status
            except service.AlreadyDecided:
                return "lost"

        outcomes = run_threads(app, 2, approve)
        assert sorted(outcomes) == ["approved", "lost"], outcomes
        assert [kind for kind, *_ in entries(w)] == ["withdrawal_hold", "withdrawal_payout"]


def test_the_threshold_setting_is_operator_only_and_validated(world):
    m = world["m"]
    assert service.parse_dual_approval_threshold("") is None
    assert service.parse_dual_approval_threshold(" 250.5 ") == Decimal("250.50")
    assert service.parse_dual_approval_threshold("0") == Decimal("0.00")
    for bad in ("-1", "abc", "1e3", "1.001"):
        with pytest.raises(service.ValidationFailed):
            service.parse_dual_approval_threshold(bad)
    with pytest.raises(SettingsError) as refused:
        merchant_settings.update_system(m, {"withdrawal_dual_approval_above": "-5"}, world["op1"], operator=True)
    assert "withdrawal_dual_approval_above" in refused.value.errors
    # A merchant posting it changes nothing; an operator sets it (audited).
    assert merchant_settings.update_system(m, {"withdrawal_dual_approval_above": "1"}, world["owner"]) == {}
    changes = merchant_settings.update_system(m, {"withdrawal_dual_approval_above": "1000"}, world["op1"],
                                              operator=True)
    assert changes == {"withdrawal_dual_approval_above": Decimal("1000.00")}
    assert Merchant.get_by_id(m.id).withdrawal_dual_approval_above == Decimal("1000.00")
    merchant_settings.update_system(m, {"withdrawal_dual_approval_above": ""}, world["op1"], operator=True)
    assert Merchant.get_by_id(m.id).withdrawal_dual_approval_above is None


# -- payout reference and receipt ---------------------------------------------------------------------
def test_the_payout_reference_is_required_trimmed_and_sent_to_the_merchant(world):
    w = request(world)
    for reference, message in ((None, "is required"), ("   ", "is required"), ("x" * 256, "at most 255")):
        with pytest.raises(service.ValidationFailed) as invalid:
            service.approve(w, world["op1"], world["wallet"], reference)
        assert invalid.value.fields["payout_reference"].find(message) >= 0
    with pytest.raises(service.ValidationFailed) as both:
        service.approve(w, world["op1"], None, "")
    assert {d["field"] for d in both.value.details} == {"wallet_sender", "payout_reference"}
    assert Withdrawal.get_by_id(w.id).status == "new" and Postback.select().count() == 0
    done = service.approve(w, world["op1"], world["wallet"], "  BKASH-TRX 8N7A6B5C4D \n")
    assert done.payout_reference == "BKASH-TRX 8N7A6B5C4D"
    data = json.loads(Postback.get().payload)["data"]
    assert data["payout_reference"] == "BKASH-TRX 8N7A6B5C4D" and data["has_payout_receipt"] is False


def png_with_text(keyword=b"Comment", text=b"<script>alert(document.cookie)</script>"):
    """A real PNG (Pillow) with a tEXt chunk spliced in before IEND, and bytes after IEND."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    data = out.getvalue()
    payload = keyword + b"\x00" + text
    chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + payload) & 0xFFFFFFFF)
    iend = data.rindex(b"IEND") - 4
    return data[:iend] + chunk + data[iend:] + b"<html><script>alert(1)</script></html>"


def jpeg_with_exif():
    image = Image.new("RGB", (60, 40), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "EvilCam <script>"  # Make
    exif[0x0112] = 6  # orientation: rotate 90° to show upright
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), comment=b"<script>x</script>")
    return out.getvalue()


def test_a_png_receipt_is_stored_without_its_text_chunk(world):
    raw = png_with_text()
    assert b"<script>" in raw and Image.open(io.BytesIO(raw)).text  # Pillow reads the chunk
    w = request(world)
    done = service.approve(w, world["op1"], world["wallet"], "TRX-1", receipt=raw)
    assert done.payout_receipt_type == "image/png"
    content_type, stored = service.receipt_of(done)
    assert content_type == "image/png" and b"<script>" not in stored and b"tEXt" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == "PNG" and image.size == (40, 30) and not image.text and not image.info.get("exif")
    assert image.convert("RGB").getpixel((5, 5)) == (200, 30, 30)
    assert stored.endswith(b"IEND\xaeB`\x82")  # nothing after the picture
    assert json.loads(Postback.get().payload)["data"]["has_payout_receipt"] is True


def test_a_jpeg_receipt_loses_its_exif_and_comment_but_keeps_its_orientation():
    clean = receipts.clean_receipt(jpeg_with_exif())
    assert clean.content_type == "image/jpeg" and (clean.width, clean.height) == (40, 60)  # turned upright
    assert b"EvilCam" not in clean.data and b"<script>" not in clean.data and b"Exif" not in clean.data
    image = Image.open(io.BytesIO(clean.data))
    assert image.format == "JPEG" and not image.getexif() and "comment" not in image.info


def test_bad_receipts_are_refused_naming_the_rule(world):
    gif = io.BytesIO()
    Image.new("P", (4, 4)).save(gif, format="GIF")
    huge_header = bytearray(png_with_text())
    huge_header[16:24] = struct.pack(">II", 20000, 20000)  # IHDR claims 20000×20000 (CRC left wrong)
    truncated = png_with_text()[:60]
    cases = {"empty": b"", "not_image": gif.getvalue(), "too_large": b"\x89PNG\r\n\x1a\n" + b"0" * receipts.MAX_BYTES,
             "corrupt": truncated}
    for rule, data in cases.items():
        with pytest.raises(receipts.ReceiptError) as refused:
            receipts.clean_receipt(data)
        assert refused.value.rule == rule, (rule, refused.value.rule)
    with pytest.raises(receipts.ReceiptError) as refused:
        receipts.clean_receipt(bytes(huge_header))
    assert refused.value.rule in ("too_many_pixels", "corrupt")
    w = request(world)
    with pytest.raises(service.ValidationFailed) as invalid:
        service.approve(w, world["op1"], world["wallet"], "TRX-1", receipt=gif.getvalue())
    assert [d["field"] for d in invalid.value.details] == ["payout_receipt"]
    assert Withdrawal.get_by_id(w.id).status == "new" and WithdrawalReceipt.select().count() == 0


def test_a_big_picture_is_refused_before_it_is_decoded():
    wide = io.BytesIO()
    Image.new("L", (receipts.MAX_SIDE + 1, 1)).save(wide, format="PNG")
    with pytest.raises(receipts.ReceiptError) as refused:
        receipts.clean_receipt(wide.getvalue())
    assert refused.value.rule == "too_many_pixels"
    many = io.BytesIO()
    Image.new("1", (4500, 4500)).save(many, format="PNG")  # 20.25 million pixels, a few KiB
    with pytest.raises(receipts.ReceiptError) as refused:
        receipts.clean_receipt(many.getvalue())
    assert refused.value.rule == "too_many_pixels"


# -- bulk approval from a CSV file --------------------------------------------------------------------
def csv_bytes(*rows, header="merchant_id,withdrawal_id,wallet_sender,payout_reference"):
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")


@pytest.mark.parametrize("data, line, words", [
    (b"", 0, "empty"),
    (csv_bytes("1,wd-1,,TRX", header="merchant,withdrawal_id,payout_reference"), 1, "missing columns: merchant_id"),
    (csv_bytes("1,wd-1,TRX,x", header="merchant_id,withdrawal_id,payout_reference,amount"), 1,
     "unknown columns: amount"),
    ("merchant_id,withdrawal_id,payout_reference\r\n1,wd-1,Réf\r\n".encode("latin-1"), 2, "not UTF-8"),
    (csv_bytes("{m},wd-1,,TRX-1", "{m},wd-2,,"), 3, "payout_reference is required"),
    (csv_bytes("{m},wd-1,,TRX-1", "{m},wd 2,,TRX-2"), 3, "withdrawal_id must be"),
    (csv_bytes("{m},wd-1,,TRX-1", "abc,wd-2,,TRX-2"), 3, "merchant_id must be"),
    (csv_bytes("{m},wd-1,,TRX-1", "{m},wd-2,TRX-2"), 3, "has 3 cells; the header has 4"),
    (csv_bytes("{m},wd-1,,TRX-1", "{m},wd-1,,TRX-9"), 3, "repeats line 2"),
    (csv_bytes(), 0, "no rows"),
])
def test_a_malformed_file_approves_nothing(world, data, line, words):
    request(world, withdrawal_id="wd-1")
    request(world, amount="100.00", withdrawal_id="wd-2")
    data = data.replace(b"{m}", str(world["m"].id).encode())
    with pytest.raises(service.CsvFileError) as refused:
        service.approve_from_csv(data, world["op1"])
    faults = refused.value.faults
    assert any(n == line and words in message for n, message in faults), faults
    assert {w.status for w in Withdrawal.select()} == {"new"} and Postback.select().count() == 0


def test_every_fault_of_a_file_is_reported_with_its_line(world):
    data = csv_bytes("{m},wd-1,,TRX-1", "x,wd-2,,", "{m},wd 3,,TRX-3").replace(b"{m}", str(world["m"].id).encode())
    with pytest.raises(service.CsvFileError) as refused:
        service.approve_from_csv(data, world["op1"])
    assert [line for line, _message in refused.value.faults] == [3, 4]
    assert "merchant_id must be" in refused.value.faults[0][1]
    assert "payout_reference is required" in refused.value.faults[0][1]


def test_a_good_file_approves_each_line_and_reports_each_outcome(world):
    m, ps = world["m"], world["ps"]
    set_threshold(m, Decimal("400.00"))
    ok = request(world, amount="100.00", withdrawal_id="ok-1")
    big = request(world, amount="500.00", withdrawal_id="big-1")  # needs two operators
    own = service.approve(request(world, amount="450.00", withdrawal_id="own-1"), world["op1"])  # op1 gave the first
    second = service.approve(request(world, amount="410.00", withdrawal_id="second-1"), world["op2"])
    done = request(world, amount="10.00", withdrawal_id="done-1")
    service.reject(done, world["op2"], "no")
    other = factories.merchant(name="Bravo")
    fund(other, ps, amount="1000.00")
    two_wallets = request(world, amount="10.00", withdrawal_id="ow-1", merchant=other)  # two wallets: name one
    named = request(world, amount="20.00", withdrawal_id="ow-2", merchant=other)
    other_wallet = factories.wallet(other, ps, number="01955555555")
    rows = [
        f"{m.id},ok-1,,TRX-OK",  # the merchant's only active wallet
        f"{m.id},big-1,,TRX-BIG",
        f"{m.id},own-1,,TRX-OWN",
        f"{m.id},second-1,01911111111,'=TRX-2",  # an exported cell's formula guard is dropped
        f"{m.id},done-1,,TRX-DONE",
        f"{m.id},nope,,TRX-NOPE",
        f"{other.id},ok-1,,TRX-X",  # Bravo has no ok-1: ids are per merchant
        f"{other.id},ow-1,,TRX-OW1",
        f"{other.id},ow-2,01955555555,TRX-OW2",
        "",
    ]
    data = ("\ufeff" + "merchant_id;withdrawal_id;wallet_sender;payout_reference\n"
            + "\n".join(r.replace(",", ";") for r in rows)).encode("utf-8")
    report = service.approve_from_csv(data, world["op1"])
    outcomes = [(r["line"], r["withdrawal_id"], r["outcome"]) for r in report]
    assert outcomes == [
        (2, "ok-1", "approved"), (3, "big-1", "first_approval"), (4, "own-1", "refused"),
        (5, "second-1", "approved"), (6, "done-1", "refused"), (7, "nope", "refused"), (8, "ok-1", "refused"),
        (9, "ow-1", "refused"), (10, "ow-2", "approved"),
    ]
    messages = {r["line"]: r["message"] for r in report}
    assert "another operator must give the second" in messages[4]
    assert "decided already" in messages[6]
    assert "unknown withdrawal" in messages[7] and "unknown withdrawal" in messages[8]
    assert "2 active wallets" in messages[9] and "wallet_sender" in messages[9]
    assert "another operator must approve" in messages[3]
    assert Withdrawal.get_by_id(ok.id).payout_reference == "TRX-OK"
    assert Withdrawal.get_by_id(ok.id).wallet_sender_id == world["wallet"].id
    assert Withdrawal.get_by_id(second.id).payout_reference == "=TRX-2"
    assert Withdrawal.get_by_id(second.id).decided_by_id == world["op1"].id
    assert Withdrawal.get_by_id(big.id).first_approved_by_id == world["op1"].id
    assert Withdrawal.get_by_id(named.id).wallet_sender_id == other_wallet.id
    assert {Withdrawal.get_by_id(w.id).status for w in (own, two_wallets, big)} == {"new"}
    assert Counter(e.event_type for e in Event.select()) == Counter(
        {"withdrawal.approved": 3, "withdrawal.rejected": 1})
