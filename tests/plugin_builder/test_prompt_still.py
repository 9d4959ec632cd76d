"""A GIF prompt's still frame (SPEC §13, ``prefers-reduced-motion``): the first frame as
PNG, served like the GIF (nosniff, sandbox CSP), and named in the plugin page's
``<picture>`` for visitors who prefer reduced motion."""
import io

from PIL import Image

import factories
from backoffice.models import MerchantPaymentSystem
from backoffice.plugin_builder.config import upload_prompt
from browser_support import gif_bytes


def test_the_still_frame_is_the_first_frame_as_png(app, client, conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant()
    settings = factories.merchant_payment_system(m, ps)
    factories.wallet(m, ps)
    with app.test_request_context():
        name = upload_prompt(MerchantPaymentSystem.get_by_id(settings.id), gif_bytes(size=24, frames=3), None)
    still = client.get(f"/plugin/v1/prompts/{name[:-4]}.png")
    assert still.status_code == 200 and still.headers["Content-Type"] == "image/png"
    assert still.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in still.headers[
        "Content-Security-Policy"]
    with Image.open(io.BytesIO(still.data)) as image:
        assert image.format == "PNG" and image.size == (24, 24) and getattr(image, "n_frames", 1) == 1
    # The GIF itself is still served as a GIF.
    assert client.get(f"/plugin/v1/prompts/{name}").headers["Content-Type"] == "image/gif"
    page = client.get("/plugin/v1/page", query_string={"merchant": m.public_key, "label": "v"})
    assert f'srcset="/plugin/v1/prompts/{name[:-4]}.png"' in page.get_data(as_text=True)
    for bad in ("0" * 32 + ".png", "../x.png", "abc.png"):
        assert client.get(f"/plugin/v1/prompts/{bad}").status_code == 404
