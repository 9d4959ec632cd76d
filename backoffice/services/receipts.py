"""Payout receipts (SPEC §14): the picture an operator may attach when approving a
withdrawal (a bank or wallet app's confirmation), shown to the merchant.

An upload is accepted only when Pillow opens it as the format its magic bytes claim
(PNG or JPEG, nothing else) and it decodes completely. Limits, checked before
decoding so a bomb never costs more than the limit: :data:`MAX_BYTES`,
:data:`MAX_SIDE` px a side and :data:`MAX_PIXELS` in all (Pillow's own
``MAX_IMAGE_PIXELS`` only warns, so it is not relied on).

The accepted picture is re-encoded from its decoded pixels alone: no text chunks
(``tEXt``/``zTXt``/``iTXt``), no EXIF (camera, GPS position), no ICC profile, no XMP,
no trailing bytes, so no payload survives (a PNG+HTML or JPEG+ZIP polyglot). A
photo's EXIF orientation is applied first, so it still shows upright.
"""
import io
import warnings
from dataclasses import dataclass

from flask_babel import gettext as _
from PIL import Image, ImageFile, ImageOps

from ..errors import RuleError

MAX_BYTES = 1536 * 1024  # a request is at most 2 MiB in all (MAX_CONTENT_LENGTH)
MAX_SIDE = 6000
MAX_PIXELS = 16_000_000
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


class ReceiptError(RuleError):
    """A refused receipt; ``rule`` is the machine name of the rule it broke."""

    status = 422
    code = "invalid_receipt"

    def __init__(self, rule, message, field="payout_receipt"):
        super().__init__(message, {field: message})
        self.rule = rule


@dataclass
class CleanReceipt:
    data: bytes
    content_type: str
    width: int
    height: int


def _format_of(data):
    if data.startswith(PNG_MAGIC):
        return "PNG"
    if data.startswith(JPEG_MAGIC):
        return "JPEG"
    return None


def _too_big(width, height):
    return width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS


def _pixels_error(width, height, field):
    return ReceiptError("too_many_pixels", _(
        "The picture is %(w)d×%(h)d px; at most %(side)d px a side and %(n)d million pixels are allowed.",
        w=width, h=height, side=MAX_SIDE, n=MAX_PIXELS // 1_000_000), field)


def clean_receipt(data, max_bytes=MAX_BYTES, field="payout_receipt"):
    """Validate and re-encode an uploaded receipt; a ``CleanReceipt`` or ``ReceiptError``
    (naming ``field``). Payout receipts and visitors' appeal receipts alike."""
    data = bytes(data or b"")
    if not data:
        raise ReceiptError("empty", _("The receipt file is empty."), field)
    if len(data) > max_bytes:
        raise ReceiptError("too_large", _("The receipt is over %(n)d KiB.", n=max_bytes // 1024), field)
    fmt = _format_of(data)
    if fmt is None:
        raise ReceiptError("not_image", _("The receipt must be a PNG or JPEG picture."), field)
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched it on globally: refuse to guess
        raise ReceiptError("corrupt", _("The picture cannot be checked on this server."), field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[fmt])
            width, height = image.size
            if _too_big(width, height):  # read from the header, before any pixel is decoded
                raise _pixels_error(width, height, field)
            image.load()
            image = ImageOps.exif_transpose(image)  # keep a photo upright once its EXIF is gone
    except ReceiptError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ReceiptError("too_many_pixels", _("The picture decodes to too many pixels."), field) from None
    except Exception:  # noqa: BLE001 - any decoder failure means the file is not a sound picture
        raise ReceiptError("corrupt", _("The picture is damaged or incomplete."), field) from None
    if fmt == "PNG":
        mode = image.mode if image.mode in ("L", "LA", "RGB", "RGBA") else (
            "RGBA" if image.mode in ("P", "PA") or "transparency" in image.info else "RGB")
    else:
        mode = image.mode if image.mode in ("L", "RGB") else "RGB"
    pixels = image.convert(mode) if image.mode != mode else image
    # Rebuilt from the raw pixels: nothing of the file but its picture is carried over.
    fresh = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if fmt == "PNG":
        fresh.save(out, format="PNG", optimize=False)
    else:
        fresh.save(out, format="JPEG", quality=90)
    return CleanReceipt(out.getvalue(), CONTENT_TYPES[fmt], fresh.width, fresh.height)
