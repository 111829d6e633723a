"""Open an image the user gave us without letting the file hurt the process.

Every image (dropped on the window, given to `assistant describe`, added to the library) comes through
here, and every way it can be bad becomes an `ImageError` with a message:

- The file is read once, with a byte limit, from a descriptor checked to be a regular file (a FIFO or
  /dev/zero would otherwise block or never end). The bytes give the content hash for free.
- The format is decided by content (Pillow's signature checks, restricted to an allow-list), never by
  the extension: a PNG called .jpg opens, a PDF called .png is refused by name.
- The size is checked from the header before a single pixel is decoded, against limits passed in per
  call (`ImageLimits`), not Pillow's process-wide `Image.MAX_IMAGE_PIXELS`, which other code may change
  and which is shared by every thread.
- JPEGs are decoded at 1/2, 1/4 or 1/8 scale when that still covers `max_side` (libjpeg's DCT scaling,
  Pillow's `draft`), so a 48-megapixel photo costs a quarter of the memory and time.
- Animations: only the first frame is decoded; frames are counted without decoding, up to a cap.
- Then, in this order: shrink to `max_side` (before converting, so the conversion runs on the small
  image), apply the EXIF orientation, flatten transparency onto white and convert to RGB.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import ExifTags, Image, UnidentifiedImageError

from assistant.images.content_hash import content_hash
from assistant.images.errors import (
    CONVERT_ADVICE,
    REEXPORT_ADVICE,
    SMALLER_ADVICE,
    ImageError,
)
from assistant.images.gif_frames import count_gif_frames

logger = logging.getLogger(__name__)

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
# Pillow names some allowed files by a sub-format: multi-picture JPEGs (many phone photos) are "MPO".
_FORMAT_ALIASES = {"MPO": "JPEG"}
STORAGE_MAX_SIDE = 4096  # what the library keeps: enough to read text in a screenshot of a 4K screen
OCR_MAX_SIDE = 2048  # what OCR needs: text detection runs on at most this, recognition on line crops

# Modes Pillow resizes correctly as they are; others are converted first (palette images would be
# resized with nearest-neighbour, 16-bit ones would clip).
_RESIZABLE_MODES = {"RGB", "RGBA", "RGBX", "L", "LA", "CMYK", "YCbCr"}
_ALPHA_MODES = {"RGBA", "LA", "RGBa", "La", "PA"}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = {5, 6, 7, 8}


@dataclass(frozen=True)
class ImageLimits:
    """What one call may cost. Defaults keep one decode under about 250 MB and a few seconds."""

    max_file_bytes: int = 128 * 1024 * 1024
    # Width x height as the header states it. The default equals Pillow's own bomb threshold, so
    # Pillow's check never refuses an image ours accepts.
    max_pixels: int = 89_478_485
    # Pixels actually decoded (after JPEG scaling): 50 MP is 200 MB as RGBA.
    max_decoded_pixels: int = 50_000_000
    max_frames: int = 1000


DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True)
class DecodedImage:
    """An image safe to hand to OCR, CLIP or the window: RGB, upright, longest side <= max_side."""

    image: Image.Image
    format: str  # one of ALLOWED_FORMATS
    width: int  # the original's size, upright (after the EXIF orientation)
    height: int
    frames: int  # 1 for a still image; animations were decoded at their first frame only
    sha256: str  # of the file's bytes


def open_image(
    path: str | Path, *, max_side: int = STORAGE_MAX_SIDE, limits: ImageLimits = DEFAULT_LIMITS
) -> DecodedImage:
    """Read and decode a local image file, or raise `ImageError`."""
    return decode_image(_read_file(Path(path), limits.max_file_bytes), name=str(path),
                        max_side=max_side, limits=limits)


def decode_image(
    data: bytes,
    *,
    name: str | None = None,
    max_side: int = STORAGE_MAX_SIDE,
    limits: ImageLimits = DEFAULT_LIMITS,
) -> DecodedImage:
    """Decode image bytes (from a file, the clipboard, a drop); `name` only goes into messages."""
    if not data:
        raise ImageError(name, "empty", "the file is empty (0 bytes)", REEXPORT_ADVICE)
    if len(data) > limits.max_file_bytes:
        raise _file_too_big(name, len(data), limits.max_file_bytes)
    try:
        # Warnings off while Pillow reads: its bomb warning duplicates our own size check, and EXIF or
        # metadata warnings are noise for a user. (catch_warnings is process-wide for this moment.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as source:
                return _decode(source, data, name, max_side, limits)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(name, "unsupported", _unsupported_problem(data), CONVERT_ADVICE) from exc
    except Image.DecompressionBombError as exc:  # Pillow's own check, at twice its MAX_IMAGE_PIXELS
        raise ImageError(
            name, "too_many_pixels",
            f"its header claims more than {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:,.0f} megapixels; "
            f"up to {limits.max_pixels / 1e6:.0f} megapixels are accepted",
            SMALLER_ADVICE,
        ) from exc
    except MemoryError as exc:
        raise ImageError(name, "too_many_pixels", "there is not enough memory to decode it",
                         SMALLER_ADVICE) from exc
    except Exception as exc:
        logger.debug("decoding %s failed", name, exc_info=True)
        raise ImageError(name, "damaged", _damage_problem(exc), REEXPORT_ADVICE) from exc


def fit_within(image: Image.Image, max_side: int) -> Image.Image:
    """`image` scaled down (never up) so its longest side is at most `max_side`."""
    width, height = image.size
    longest = max(width, height)
    if longest <= max_side:
        return image
    ratio = max_side / longest
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    # reducing_gap: a cheap box reduction first, Lanczos for the last step (Pillow's fast path).
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


# ---- reading ----------------------------------------------------------------------------------------


def _read_file(path: Path, max_bytes: int) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; the fstat below then refuses it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise ImageError(path, "missing", "the file does not exist") from exc
    except IsADirectoryError as exc:
        raise ImageError(path, "not_a_file", "it is a folder, not a file") from exc
    except PermissionError as exc:
        raise ImageError(path, "unreadable", "permission denied", "Check that you may read it.") from exc
    except OSError as exc:
        raise ImageError(path, "unreadable", f"it cannot be opened ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ImageError(path, "not_a_file", "it is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(path, "not_a_file", "it is not a regular file (a device or a pipe?)")
        if info.st_size > max_bytes:
            raise _file_too_big(path, info.st_size, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(max_bytes + 1)  # +1: a file that grew since fstat is still caught
        except OSError as exc:
            raise ImageError(path, "unreadable", f"reading it failed ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise _file_too_big(path, len(data), max_bytes)
    return data


def _file_too_big(name: str | Path | None, size: int, limit: int) -> ImageError:
    return ImageError(name, "file_too_big",
                      f"it is {size / 2**20:.0f} MB; images up to {limit / 2**20:.0f} MB are accepted",
                      SMALLER_ADVICE)


# ---- decoding ---------------------------------------------------------------------------------------


def _decode(
    source: Image.Image, data: bytes, name: str | None, max_side: int, limits: ImageLimits
) -> DecodedImage:
    fmt = _FORMAT_ALIASES.get(source.format or "", source.format or "")
    if fmt not in ALLOWED_FORMATS:  # the allow-list above makes this unreachable; keep it explicit
        raise ImageError(name, "unsupported", f"{fmt or 'this'} images are not supported", CONVERT_ADVICE)
    width, height = source.size
    if width <= 0 or height <= 0:
        raise ImageError(name, "damaged", f"its header says it is {width} x {height} pixels",
                         REEXPORT_ADVICE)
    if width * height > limits.max_pixels:
        raise ImageError(
            name, "too_many_pixels",
            f"it is {width} x {height} pixels ({width * height / 1e6:,.0f} megapixels); "
            f"up to {limits.max_pixels / 1e6:.0f} megapixels are accepted",
            SMALLER_ADVICE,
        )
    frames = _count_frames(source, fmt, data, limits.max_frames)
    if frames > limits.max_frames:
        raise ImageError(name, "too_many_frames",
                         f"it is an animation of more than {limits.max_frames} frames",
                         "Save the frame you mean as PNG and try again.")
    orientation = _orientation(source)
    if fmt == "JPEG":
        _draft(source, max_side, limits.max_decoded_pixels)
    decoded_w, decoded_h = source.size
    if decoded_w * decoded_h > limits.max_decoded_pixels:
        raise ImageError(
            name, "too_many_pixels",
            f"it is {width} x {height} pixels; {fmt} images up to "
            f"{limits.max_decoded_pixels / 1e6:.0f} megapixels can be decoded",
            SMALLER_ADVICE,
        )
    source.load()  # the only full decode: frame 0, at the drafted scale
    image = _to_rgb(fit_within(_resizable(source), max_side))
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    if orientation in _SWAPS_SIDES:
        width, height = height, width
    return DecodedImage(image, fmt, width, height, max(frames, 1), content_hash(data))


def _count_frames(source: Image.Image, fmt: str, data: bytes, max_frames: int) -> int:
    if fmt == "GIF":
        return count_gif_frames(data, stop_after=max_frames)
    if fmt == "TIFF":
        # Pages of a TIFF are not an animation; Pillow's n_frames would walk every page's IFD.
        return 1
    # APNG (acTL chunk), animated WebP (ANIM header) and MPO (MP index) state their frame count.
    return int(getattr(source, "n_frames", 1))


def _orientation(source: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright); a damaged EXIF block only costs the rotation."""
    try:
        value = source.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        logger.debug("unreadable EXIF, keeping the image as stored", exc_info=True)
        return 1
    return value if isinstance(value, int) else 1


def _draft(source: Image.Image, max_side: int, max_decoded_pixels: int) -> None:
    """Ask libjpeg for the largest power-of-two reduction that still covers `max_side`.

    Then reduce further if that would still decode more than `max_decoded_pixels`.
    """
    width, height = source.size
    scale = 1
    while scale < 8 and max(width, height) // (scale * 2) >= max_side:
        scale *= 2
    while scale < 8 and (width // scale) * (height // scale) > max_decoded_pixels:
        scale *= 2
    if scale > 1:
        source.draft(None, (width // scale, height // scale))


def _resizable(image: Image.Image) -> Image.Image:
    """The decoded frame in a mode that resizes correctly (cheap: called before any resize only when
    the mode needs it, and palette or 1-bit data is small)."""
    mode = image.mode
    if mode in _RESIZABLE_MODES:
        return image
    if mode.startswith("I") or mode == "F":  # 16/32-bit integer or float samples: scale to 8 bits
        return _to_eight_bit(image)
    if (mode == "P" and "transparency" in image.info) or mode == "PA":
        return image.convert("RGBA")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def _to_eight_bit(image: Image.Image) -> Image.Image:
    """Pillow's convert("L") clips 16-bit samples at 255 (a 16-bit scan turns white); stretch instead."""
    if image.mode.startswith("I;16"):
        image = image.convert("I")
    low, high = image.getextrema()
    if high <= low:
        return Image.new("L", image.size, 0 if high <= 0 else 255)
    span = float(high) - float(low)
    # point() on I/F images takes a linear function: v * scale + offset.
    return image.point(lambda v: (v - low) * (255.0 / span)).convert("L")


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency flattened onto white (dark text on a transparent background stays
    readable, as it looks in a browser)."""
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


# ---- messages ---------------------------------------------------------------------------------------

# Files people mistake for images, by their first bytes, so the message can say what the file is.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"\x00\x00\x01\x00", "a Windows icon (ICO)"),
    (0, b"8BPS", "a Photoshop document"),
    (0, b"ID3", "an MP3 recording"),
    (0, b"OggS", "an Ogg recording"),
    (0, b"\x1a\x45\xdf\xa3", "a WebM or Matroska video"),
    (4, b"ftypheic", "a HEIC photo"),
    (4, b"ftypheix", "a HEIC photo"),
    (4, b"ftypmif1", "a HEIF photo"),
    (4, b"ftypavif", "an AVIF image"),
    (4, b"ftyp", "an MP4 or QuickTime video"),
)


def _unsupported_problem(data: bytes) -> str:
    allowed = "PNG, JPEG, WebP, GIF, BMP or TIFF"
    for offset, signature, what in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return f"it is {what}, not a {allowed} image"
    head = data[:512].lstrip()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in data[:4096]:
        return f"it is an SVG drawing, not a {allowed} image"
    if _looks_like_text(data[:4096]):
        return f"it is a text file, not a {allowed} image"
    return f"it is not a {allowed} image (whatever its name says)"


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(text) and all(ch.isprintable() or ch in "\t\r\n" for ch in text)


def _damage_problem(exc: Exception) -> str:
    detail = str(exc).strip() or type(exc).__name__
    if "truncated" in detail.lower():
        return "the file is cut short (truncated)"
    if len(detail) > 120:
        detail = detail[:117] + "..."
    return f"it is damaged and cannot be decoded ({detail})"
