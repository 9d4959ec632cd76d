"""The GIF prompt's one home, ``plugin_builder.config.upload_prompt`` / ``delete_prompt``:
the picture is stored re-encoded under a new name, the change audited, the replaced
file removed after the commit; a refused picture (or a failed transaction) changes
nothing and leaves no file. The merchant API answers a refused GIF through the
blueprint's RuleError handler, in the shape it always had."""
import io
import os

import pytest
from PIL import Image
from plugin_support import plugin_shop  # noqa: F401 - fixture

from backoffice.models import AuditLog, MerchantPaymentSystem
from backoffice.plugin_builder import config as plugin_config
from backoffice.plugin_builder.gif import MAX_BYTES, GifError, prompts_folder
from backoffice.services import audit


def animated_gif(frames, comment=None):
    images = [Image.new("RGB", (32, 24), (i * 60 % 256, 90, 200)).convert("P", palette=Image.Palette.ADAPTIVE)
              for i in range(frames)]
    out = io.BytesIO()
    options = dict(format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    if comment is not None:
        options["comment"] = comment
    images[0].save(out, **options)
    return out.getvalue()


def entries(action):
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


def stored_files():
    return sorted(name for name in os.listdir(prompts_folder()) if not name.startswith("."))


def png_bytes():
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, format="PNG")
    return out.getvalue()


def test_upload_prompt_stores_a_reencoded_file_audits_and_removes_the_replaced_one(ctx, plugin_shop):  # noqa: F811
    row = plugin_shop["mps_b"]
    data = animated_gif(frames=3, comment=b"<script>alert(1)</script>")
    name = plugin_config.upload_prompt(row, data, None, ip="10.0.0.5", via="api")
    assert MerchantPaymentSystem.get_by_id(row.id).gif_prompt == name
    assert stored_files() == [name]
    with open(os.path.join(prompts_folder(), name), "rb") as fh:
        kept = fh.read()
    assert kept != data and b"<script>" not in kept  # re-encoded: the comment is gone
    assert Image.open(io.BytesIO(kept), formats=["GIF"]).n_frames == 3
    [entry] = entries("plugin.prompt")
    assert entry.merchant_id == plugin_shop["merchant"].id and entry.ip == "10.0.0.5"
    assert entry.object_id == str(row.id)
    assert entry.summary == {"payment_system": "bkash", "via": "api"}

    again = plugin_config.upload_prompt(MerchantPaymentSystem.get_by_id(row.id), animated_gif(frames=2), None)
    assert again != name and stored_files() == [again]  # the replaced file went
    assert entries("plugin.prompt")[-1].summary == {"payment_system": "bkash"}


@pytest.mark.parametrize("data, rule", [(png_bytes(), "not_gif"), (None, "too_large"),
                                        (b"GIF89a" + b"\0" * MAX_BYTES, "too_large")])
def test_a_refused_prompt_changes_nothing(ctx, plugin_shop, data, rule):  # noqa: F811
    row = plugin_shop["mps_b"]
    before = plugin_config.upload_prompt(row, animated_gif(frames=2), None)
    with pytest.raises(GifError) as caught:
        plugin_config.upload_prompt(row, data, None)
    assert caught.value.rule == rule and caught.value.fields == {"body": caught.value.message}
    assert MerchantPaymentSystem.get_by_id(row.id).gif_prompt == before
    assert stored_files() == [before] and len(entries("plugin.prompt")) == 1


def test_a_failed_transaction_keeps_the_old_prompt_and_leaves_no_new_file(ctx, plugin_shop, monkeypatch):  # noqa: F811
    row = plugin_shop["mps_b"]
    before = plugin_config.upload_prompt(row, animated_gif(frames=2), None)

    def broken(*args, **kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        plugin_config.upload_prompt(row, animated_gif(frames=3), None)
    assert row.gif_prompt == before
    assert MerchantPaymentSystem.get_by_id(row.id).gif_prompt == before
    assert stored_files() == [before]


def test_delete_prompt_audits_and_removes_the_file(ctx, plugin_shop):  # noqa: F811
    row = plugin_shop["mps_b"]
    name = plugin_config.upload_prompt(row, animated_gif(frames=2), None)
    assert plugin_config.delete_prompt(row, None, ip="10.0.0.6") == name
    assert MerchantPaymentSystem.get_by_id(row.id).gif_prompt is None and stored_files() == []
    [entry] = entries("plugin.prompt_removed")
    assert entry.summary == {"payment_system": "bkash"} and entry.ip == "10.0.0.6"


def test_the_api_answers_a_refused_gif_in_its_pinned_shape(client, plugin_shop):  # noqa: F811
    m = plugin_shop["merchant"]
    response = client.put("/api/v1/plugin/prompts/bkash", data=png_bytes(),
                          headers={"Authorization": f"Bearer {m.api_key}"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_gif" and error["message"]
    assert error["details"] == [{"field": "body", "rule": "not_gif", "message": error["message"]}]
    too_big = client.put("/api/v1/plugin/prompts/bkash", data=b"GIF89a" + b"\0" * MAX_BYTES,
                         headers={"Authorization": f"Bearer {m.api_key}"})
    assert too_big.status_code == 422
    assert [(d["field"], d["rule"]) for d in too_big.get_json()["error"]["details"]] == [("body", "too_large")]
    assert MerchantPaymentSystem.get_by_id(plugin_shop["mps_b"].id).gif_prompt is None
    assert entries("plugin.prompt") == []
