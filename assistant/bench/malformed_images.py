"""A corpus of bad image files, generated (seeded, so every run makes the same bytes).

`cases()` is the hand-picked corpus of tests/reliability/test_malformed_images.py (over 200 files);
`sweep_cases(n)` goes on from it to any number with more seeded cuts, bit flips and broken chunk,
segment and header fields, for the reliability sweep (`bench/reliability_faults.py`).

Each case says what the safe decoder must do with it:
- "refuse": raise ImageError (with a message), never anything else;
- "either": bit flips can land in pixel data and still decode, so a valid image is also fine.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw

Expect = Literal["refuse", "either"]

__all__ = ["Case", "Expect", "apng_declaring", "bmp_with_header", "cases", "gif_with_frames",
           "gif_with_screen", "huge_headers", "jpeg_with_header", "not_images", "png_bomb", "png_with_header",
           "sweep_cases", "tiff_ifd_loop", "tiff_with_header", "valid_images", "webp_with_canvas"]


@dataclass(frozen=True)
class Case:
    name: str  # file name, extension included (often a lying one)
    data: bytes
    expect: Expect


def _sample(size: tuple[int, int] = (64, 48)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, size[0] // 2, size[1] // 2), fill="red")
    draw.ellipse((size[0] // 3, size[1] // 3, size[0] - 4, size[1] - 4), fill="blue")
    draw.line((0, size[1] - 1, size[0] - 1, 0), fill="black", width=3)
    return image


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def valid_images() -> dict[str, bytes]:
    """One small valid file per allowed format and animation kind."""
    image = _sample()
    frames = [_sample().rotate(angle) for angle in (0, 90, 180)]
    return {
        "png": _save(image, "PNG"),
        "jpg": _save(image, "JPEG", quality=85),
        "progressive.jpg": _save(image, "JPEG", quality=85, progressive=True),
        "webp": _save(image, "WEBP", quality=80),
        "gif": _save(image.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "bmp": _save(image, "BMP"),
        "tiff": _save(image, "TIFF", compression="tiff_lzw"),
        "animated.gif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50),
        "animated.png": _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50),
        "animated.webp": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50),
    }


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_header(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose IHDR states any size (8-bit grey), with a tiny (or given) IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = idat if idat is not None else zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def png_bomb(side: int = 30_000) -> bytes:
    """A real, complete side x side grey PNG of zeros: ~1 MB on disk, side^2 bytes when decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    return png_with_header(side, side, b"".join(parts))


def gif_with_frames(count: int, screen: tuple[int, int] = (1, 1)) -> bytes:
    """A valid GIF89a of `count` 1x1 frames, written by hand (Pillow would take minutes)."""
    head = b"GIF89a" + struct.pack("<HHBBB", screen[0], screen[1], 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms delay
        + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # image descriptor, 1x1
        + b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one sub-block, terminator
    )
    return head + frame * count + b"\x3b"


def apng_declaring(frames: int) -> bytes:
    """A 1x1 APNG whose acTL chunk claims `frames` frames."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    actl = struct.pack(">II", frames, 0)
    fctl = struct.pack(">IIIIIHHBB", 0, 1, 1, 0, 0, 1, 10, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"acTL", actl) + _chunk(b"fcTL", fctl)
            + _chunk(b"IDAT", zlib.compress(b"\x00\x00")) + _chunk(b"IEND", b""))


def bmp_with_header(width: int, height: int, bits: int = 24) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 54) + info + b"\x00" * 16


def gif_with_screen(width: int, height: int) -> bytes:
    return gif_with_frames(1, screen=(width, height))


def tiff_with_header(width: int, height: int) -> bytes:
    """Little-endian TIFF, one strip of 16 bytes, claiming width x height 8-bit grey."""
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack("<HHII", tag, kind, count, value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 16


def tiff_ifd_loop() -> bytes:
    """A TIFF whose next-IFD pointer points back at itself."""
    data = bytearray(tiff_with_header(8, 8))
    next_offset = 8 + 2 + 12 * 9
    data[next_offset : next_offset + 4] = struct.pack("<I", 8)
    return bytes(data)


def jpeg_with_header(width: int, height: int) -> bytes:
    """A real small JPEG with its SOF0 frame size rewritten."""
    data = bytearray(_save(_sample((16, 16)), "JPEG"))
    at = data.find(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_with_canvas(width: int, height: int) -> bytes:
    """A VP8X WebP header claiming a width x height canvas, with no image data."""
    vp8x = bytes([0x10, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def not_images() -> dict[str, bytes]:
    rng = random.Random(11)
    return {
        "notes.png": b"Shopping list:\n- milk\n- bread\n" * 20,
        "report.jpg": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"\x00" * 200,
        "archive.png": b"PK\x03\x04" + rng.randbytes(300),
        "page.gif": b"<!DOCTYPE html><html><body><img src='x.png'></body></html>",
        "drawing.png": b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'></svg>",
        "program.png": Path(sys.executable).read_bytes()[:4096],
        "icon.png": _save(_sample((32, 32)), "ICO"),
        "photo.heic.jpg": b"\x00\x00\x00\x18ftypheic" + rng.randbytes(200),
        "song.webp": b"ID3\x03\x00" + rng.randbytes(500),
        "random1.jpg": rng.randbytes(2000),
        "random2.png": rng.randbytes(64),
        "random3.webp": b"RIFF" + rng.randbytes(100),
        "magic-only.png": b"\x89PNG\r\n\x1a\n",
        "magic-only.jpg": b"\xff\xd8\xff",
        "magic-only.gif": b"GIF89a",
        "magic-only.tiff": b"II*\x00",
        "magic-only.bmp": b"BM",
    }


def huge_headers() -> dict[str, bytes]:
    return {
        "30k.png": png_with_header(30_000, 30_000),
        "wide.png": png_with_header(2**31 - 1, 1),
        "zero-width.png": png_with_header(0, 100),
        "65k.gif": gif_with_screen(65_535, 65_535),
        "60k.bmp": bmp_with_header(60_000, 60_000),
        "negative.bmp": bmp_with_header(-5, 100),
        "100k.tiff": tiff_with_header(100_000, 100_000),
        "65k.jpg": jpeg_with_header(65_000, 65_000),
        "16k.webp": webp_with_canvas(16_384, 16_384),
        "zero.jpg": jpeg_with_header(0, 0),
    }


def cases() -> Iterator[Case]:
    """At least 200 bad files: every kind the issue names, over every allowed format."""
    for extension in ("png", "jpg", "gif", "webp", "bmp", "tiff"):
        yield Case(f"empty.{extension}", b"", "refuse")
    valid = valid_images()
    for label, data in valid.items():
        # Cut short: just the signature, a few header bytes, half, most of it.
        for keep in (4, 12, 30, len(data) // 4, len(data) // 2, len(data) * 3 // 4):
            # Only the first frame is decoded, so an animation cut after it is still a fine image.
            expect: Expect = "either" if label.startswith("animated") and keep >= len(data) // 2 else "refuse"
            yield Case(f"truncated-{keep}-{label}", data[:keep], expect)
    rng = random.Random(5)
    for label, data in valid.items():
        for flip in range(12):
            damaged = bytearray(data)
            for _ in range(1 + flip % 4):  # 1 to 4 flipped bits, anywhere (headers included)
                position = rng.randrange(len(damaged))
                damaged[position] ^= 1 << rng.randrange(8)
            yield Case(f"bitflip-{flip}-{label}", bytes(damaged), "either")
    for name, data in huge_headers().items():
        yield Case(f"huge-{name}", data, "refuse")
    yield Case("bomb-30000x30000.png", png_bomb(), "refuse")
    # Under Pillow's own threshold, so only our decoded-pixel cap stands in the way: 81 MP.
    yield Case("bomb-9000x9000.png", png_bomb(9000), "refuse")
    for name, data in not_images().items():
        yield Case(f"wrong-{name}", data, "refuse")
    yield Case("frames-5000.gif", gif_with_frames(5000), "refuse")
    yield Case("frames-200000.gif", gif_with_frames(200_000), "refuse")
    yield Case("frames-1000000.png", apng_declaring(1_000_000), "refuse")
    yield Case("ifd-loop.tiff", tiff_ifd_loop(), "either")
    yield Case("no-pixels.tiff", tiff_with_header(64, 64)[:-16], "refuse")


def _png_chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(offset of the length field, chunk type) of every chunk of a PNG."""
    out, at = [], 8
    while at + 8 <= len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        out.append((at, data[at + 4:at + 8]))
        at += 12 + length
    return out


def _jpeg_segments(data: bytes) -> list[int]:
    """Offsets of the length fields of a JPEG's marker segments (up to the scan)."""
    out, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        out.append(at + 2)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    return out


def _field_mutants(label: str, data: bytes, rng: random.Random) -> Iterator[Case]:
    """Length and size fields set to 0, 1, huge or random: where decoders allocate and loop."""
    values = (0, 1, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32))
    if data.startswith(b"\x89PNG"):
        for at, kind in _png_chunks(data):
            for value in values:
                damaged = bytearray(data)
                damaged[at:at + 4] = struct.pack(">I", value)
                yield Case(f"field-{label}-{kind.decode('latin-1')}-len-{value:x}", bytes(damaged), "either")
    elif data.startswith(b"\xff\xd8"):
        for at in _jpeg_segments(data):
            for value in (0, 1, 2, 0xFFFF, rng.getrandbits(16)):
                damaged = bytearray(data)
                damaged[at:at + 2] = struct.pack(">H", value)
                yield Case(f"field-{label}-seg{at}-len-{value:x}", bytes(damaged), "either")
    else:  # GIF, WebP, BMP, TIFF: their header words, one 16- or 32-bit field at a time
        for at in range(4, min(len(data) - 4, 64), 2):
            value = rng.choice(values)
            damaged = bytearray(data)
            damaged[at:at + 4] = struct.pack("<I", value)
            yield Case(f"field-{label}-at{at}-{value:x}", bytes(damaged), "either")


def sweep_cases(count: int, seed: int = 15) -> list[Case]:
    """`count` bad files: the hand-picked `cases()` (the quick runs take an even spread of them), then
    broken length and size fields of every format, then seeded cuts and bit flips, until `count`."""
    base = list(cases())
    rng = random.Random(seed)
    valid = valid_images()
    fields = [c for label, data in valid.items() for c in _field_mutants(label, data, rng)]
    pool = base + fields
    if count <= len(pool):
        step = len(pool) / count
        return [pool[int(i * step)] for i in range(count)]
    out = list(pool)
    labels = sorted(valid)
    while len(out) < count:
        label = labels[len(out) % len(labels)]
        data = valid[label]
        if len(out) % 3:
            damaged = bytearray(data)
            for _ in range(1 + rng.randrange(16)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            out.append(Case(f"sweep-flip-{len(out)}-{label}", bytes(damaged), "either"))
        else:
            # Cut anywhere: a cut in trailing bytes (padding, later frames, a missing trailer) may still
            # decode, so only a refusal with a message or a bounded RGB image is accepted.
            keep = rng.randrange(1, len(data))
            out.append(Case(f"sweep-cut-{len(out)}-{keep}-{label}", data[:keep], "either"))
    return out
