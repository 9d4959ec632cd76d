"""GIF prompts: the animated picture that shows a visitor how to pay (SPEC §5).

An upload is accepted only when Pillow opens it as a GIF (``formats=["GIF"]``; the
magic bytes are checked first) and every frame decodes — ``verify()`` proves nothing
for GIF. Limits, checked before and while decoding so a bomb never costs more than
the limit: 1 MiB, 800×800 px, 300 frames, 50 million decoded pixels in all frames
together. Pillow's own ``MAX_IMAGE_PIXELS`` only warns, so it is not relied on.

The accepted picture is re-encoded from its decoded frames with no metadata (no
comments, no application or XMP extensions): no polyglot payload (GIF+JS comment,
GIF+ZIP "GIFAR") survives. Files are stored under a generated name in the instance
folder (``prompts/``) and served by ``views.prompt_file``.
"""
import io
import os
import re
import secrets
import warnings
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageFile

from ..errors import RuleError

MAX_BYTES = 1024 * 1024
MAX_SIDE = 800
MAX_FRAMES = 300
MAX_TOTAL_PIXELS = 50_000_000
NAME_RE = re.compile(r"^[0-9a-f]{32}\.gif$")


class GifError(RuleError):
    """A refused upload; ``rule`` is the machine name of the rule it broke. The upload
    is the request's body: ``fields`` names it ``body``."""

    status = 422
    code = "invalid_gif"

    def __init__(self, rule, message):
        super().__init__(message, {"body": message})
        self.rule = rule

    def detail_list(self):
        return [{"field": "body", "rule": self.rule, "message": self.message}]


@dataclass
class CleanGif:
    data: bytes
    width: int
    height: int
    frames: int


def clean_gif(data):
    """Validate and re-encode an uploaded GIF; return a ``CleanGif`` or raise ``GifError``."""
    data = bytes(data or b"")
    if len(data) > MAX_BYTES:
        raise GifError("too_large", _("The file is over 1 MiB."))
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise GifError("not_gif", _("The file is not a GIF image."))
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone switched it on globally: refuse to guess
        raise GifError("corrupt", _("The GIF cannot be checked on this server."))
    # The logical screen size, read before Pillow allocates anything for it.
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if len(data) < 13 or width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise GifError("too_many_pixels", _("The GIF is %(w)d×%(h)d px; at most %(n)d×%(n)d px is allowed.",
                                            w=width, h=height, n=MAX_SIDE))
    frames, durations = [], []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["GIF"])
            width, height = image.size
            if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
                raise GifError("too_many_pixels",
                               _("The GIF is %(w)d×%(h)d px; at most %(n)d×%(n)d px is allowed.",
                                 w=width, h=height, n=MAX_SIDE))
            loop = image.info.get("loop")
            total = 0
            index = 0
            while True:
                if index >= MAX_FRAMES:
                    raise GifError("too_many_frames", _("The GIF has over %(n)d frames.", n=MAX_FRAMES))
                image.seek(index)
                if image.size != (width, height):
                    raise GifError("corrupt", _("The GIF's frames do not fit its canvas."))
                total += width * height
                if total > MAX_TOTAL_PIXELS:
                    raise GifError("too_many_decoded_pixels",
                                   _("The GIF decodes to over %(n)d million pixels.", n=MAX_TOTAL_PIXELS // 1_000_000))
                image.load()
                frame = image.convert("RGBA")
                frame.info = {}
                frames.append(frame)
                durations.append(max(int(image.info.get("duration") or 100), 20))
                index += 1
                try:
                    image.seek(index)
                except EOFError:
                    break
    except GifError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise GifError("too_many_decoded_pixels", _("The GIF decodes to too many pixels.")) from None
    except Exception:  # noqa: BLE001 - any decoder failure means the file is not a sound GIF
        raise GifError("corrupt", _("The GIF is damaged or incomplete: not every frame decodes.")) from None
    out = io.BytesIO()
    first = frames[0]
    options = dict(format="GIF", save_all=True, append_images=frames[1:], duration=durations, disposal=2,
                   optimize=False)
    if loop is not None:
        options["loop"] = int(loop)
    first.save(out, **options)
    return CleanGif(out.getvalue(), width, height, len(frames))


def prompts_folder():
    folder = os.path.join(current_app.instance_path, "prompts")
    os.makedirs(folder, exist_ok=True)
    return folder


def store_prompt(clean):
    """Write a cleaned GIF under a new random name; return the name."""
    name = secrets.token_hex(16) + ".gif"
    path = os.path.join(prompts_folder(), name)
    with open(path + ".part", "wb") as fh:
        fh.write(clean.data)
    os.replace(path + ".part", path)
    return name


def remove_prompt(name):
    if name and NAME_RE.match(name):
        try:
            os.remove(os.path.join(prompts_folder(), name))
        except FileNotFoundError:
            pass


def set_prompt(settings, name):
    """Make the stored file ``name`` (from ``store_prompt``) the GIF prompt of
    ``settings`` (a MerchantPaymentSystem); returns the old name.

    The caller removes the old file with ``remove_prompt`` once its database
    transaction has committed (a rollback must not leave the row naming a deleted
    file), and the new one if the transaction fails — ``config.upload_prompt`` does it
    all."""
    old = settings.gif_prompt
    settings.gif_prompt = name
    settings.save()
    return old


def clear_prompt(settings):
    """Unset the GIF prompt; returns the old name for ``remove_prompt`` after the commit."""
    old = settings.gif_prompt
    settings.gif_prompt = None
    settings.save()
    return old


STILL_RE = re.compile(r"^([0-9a-f]{32})\.png$")


def still_frame(name):
    """The first frame of the stored prompt ``name`` as PNG bytes (what a visitor who
    prefers reduced motion sees until they press Play), or None when there is no such
    file. Stored files were checked and re-encoded on upload."""
    if not NAME_RE.match(name or ""):
        return None
    path = os.path.join(prompts_folder(), name)
    try:
        with Image.open(path, formats=["GIF"]) as image:
            image.seek(0)
            frame = image.convert("RGBA")
    except (FileNotFoundError, OSError):
        return None
    out = io.BytesIO()
    frame.save(out, "PNG", optimize=True)
    return out.getvalue()
