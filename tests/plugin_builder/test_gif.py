"""GIF prompts: real animations pass and are re-encoded clean; bombs, fakes and
polyglots are refused or lose their payload."""
import io
import struct
import zipfile

import pytest
from PIL import Image

from backoffice.plugin_builder.gif import MAX_BYTES, GifError, clean_gif


def animated_gif(frames=6, size=(64, 48), comment=None, **extra):
    images = []
    for i in range(frames):
        im = Image.new("RGB", size, (i * 40 % 256, 80, 255 - i * 40 % 256))
        for x in range(i * 4, i * 4 + 8):
            for y in range(8):
                im.putpixel((x % size[0], y % size[1]), (255, 255, 255))
        images.append(im.convert("P", palette=Image.Palette.ADAPTIVE))
    out = io.BytesIO()
    options = dict(format="GIF", save_all=True, append_images=images[1:], duration=120, loop=0, **extra)
    if comment is not None:
        options["comment"] = comment
    images[0].save(out, **options)
    return out.getvalue()


def test_a_real_animated_gif_passes_and_keeps_its_frames():
    data = animated_gif(frames=6)
    clean = clean_gif(data)
    assert (clean.width, clean.height, clean.frames) == (64, 48, 6)
    image = Image.open(io.BytesIO(clean.data), formats=["GIF"])
    assert image.n_frames == 6 and image.size == (64, 48)
    assert image.info.get("loop") == 0 and image.info.get("duration") == 120
    assert "comment" not in image.info


def refused(data, rule):
    with pytest.raises(GifError) as caught:
        clean_gif(data)
    assert caught.value.rule == rule, caught.value.message
    return caught.value


def test_png_renamed_gif_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (10, 10), "red").save(out, format="PNG")
    refused(out.getvalue(), "not_gif")


def test_png_with_a_gif_header_pasted_in_front_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (10, 10), "red").save(out, format="PNG")
    with pytest.raises(GifError):
        clean_gif(b"GIF89a" + out.getvalue())


def test_truncated_gif_is_refused():
    data = animated_gif(frames=4)
    refused(data[: len(data) * 2 // 3], "corrupt")
    refused(data[:20], "corrupt")


def test_header_bomb_is_refused_before_decoding():
    # A tiny file whose logical screen claims 10000×10000 pixels.
    data = animated_gif(frames=1, size=(4, 4))
    bomb = data[:6] + struct.pack("<HH", 10000, 10000) + data[10:]
    assert len(bomb) < 200
    refused(bomb, "too_many_pixels")


def test_image_descriptor_larger_than_its_canvas_is_refused():
    data = bytearray(animated_gif(frames=1, size=(4, 4)))
    at = data.index(b"\x2c")  # the first image descriptor
    data[at + 5:at + 9] = struct.pack("<HH", 10000, 10000)
    with pytest.raises(GifError):
        clean_gif(bytes(data))


def test_frame_bomb_is_refused():
    frames = [Image.new("P", (2, 2), i % 2) for i in range(301)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 255, 255])
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=20)
    assert Image.open(io.BytesIO(out.getvalue())).n_frames == 301
    refused(out.getvalue(), "too_many_frames")
    assert clean_gif(animated_gif(frames=30, size=(2, 2))).frames <= 30


def test_decoded_pixel_bomb_is_refused():
    # 800×800 × 80 frames = 51.2 million decoded pixels: over the 50 million limit.
    frames = [Image.new("P", (800, 800), i % 2) for i in range(80)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    assert len(out.getvalue()) <= MAX_BYTES
    refused(out.getvalue(), "too_many_decoded_pixels")


def test_over_one_mib_is_refused():
    refused(animated_gif(frames=1) + b"\0" * MAX_BYTES, "too_large")


def test_gifar_loses_its_zip():
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Main-Class: Evil\n")
    gifar = animated_gif(frames=2) + zipped.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(gifar))
    clean = clean_gif(gifar)
    assert not zipfile.is_zipfile(io.BytesIO(clean.data))
    assert b"PK\x03\x04" not in clean.data and b"MANIFEST" not in clean.data


def test_gif_js_comment_polyglot_loses_its_comment():
    payload = b"*/=alert(document.domain)//"
    data = animated_gif(frames=2, comment=payload)
    assert payload in data
    clean = clean_gif(data)
    assert payload not in clean.data and b"alert" not in clean.data
    assert "comment" not in Image.open(io.BytesIO(clean.data)).info


def test_gif_js_header_polyglot_is_refused():
    # "GIF89a/*": the width bytes spell "/*" so the file also parses as JavaScript.
    data = animated_gif(frames=1, size=(4, 4))
    polyglot = data[:6] + b"/*" + data[8:] + b"*/=alert(1);"
    refused(polyglot, "too_many_pixels")


def test_application_extensions_are_dropped():
    data = bytearray(animated_gif(frames=2))
    at = data.index(b"\x2c")
    extension = b"\x21\xff\x0bXMP DataXMP" + b"\x05evil!" + b"\x00"
    data[at:at] = extension
    clean = clean_gif(bytes(data))
    assert b"evil!" not in clean.data and b"XMP DataXMP" not in clean.data
