"""Safe image decoding: formats by content, limits per call, JPEG draft, orientation, transparency."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from malformed_images import gif_with_frames, valid_images
from PIL import Image

from assistant.images.content_hash import content_hash, file_hash
from assistant.images.errors import ImageError
from assistant.images.gif_frames import count_gif_frames
from assistant.images.safe_image import ImageLimits, decode_image, fit_within, open_image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _halves(size: tuple[int, int] = (200, 100)) -> Image.Image:
    """Left half red, right half blue: orientation and scaling are visible in the corners."""
    image = Image.new("RGB", size, "red")
    image.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return image


def _close(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


@pytest.mark.parametrize("label", sorted(valid_images()))
def test_every_allowed_format_decodes_to_rgb(label: str) -> None:
    decoded = decode_image(valid_images()[label], name=label)
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == decoded.image.size == (64, 48)
    assert decoded.format in {"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"}
    assert decoded.frames == (3 if label.startswith("animated") else 1)


def test_format_is_decided_by_content_not_extension(tmp_path: Path) -> None:
    path = tmp_path / "holiday.jpg"
    path.write_bytes(_encode(_halves(), "PNG"))
    decoded = open_image(path)
    assert decoded.format == "PNG"
    assert decoded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == file_hash(path)
    assert content_hash(path.read_bytes()) == decoded.sha256


def test_large_images_shrink_to_max_side_keeping_the_aspect() -> None:
    decoded = decode_image(_encode(_halves((3000, 1000)), "PNG"), max_side=600)
    assert decoded.image.size == (600, 200)
    assert (decoded.width, decoded.height) == (3000, 1000)
    assert _close(decoded.image.getpixel((10, 100)), (255, 0, 0))
    assert _close(decoded.image.getpixel((590, 100)), (0, 0, 255))
    small = Image.new("RGB", (30, 20))
    assert fit_within(small, 600) is small  # never enlarged


def test_jpeg_is_decoded_at_reduced_scale_before_the_full_decode() -> None:
    """A 4000x3000 JPEG passes a 4 MP decode cap only because libjpeg decodes it at 1/2 or less;
    the same picture as PNG cannot be reduced while decoding and is refused."""
    picture = _halves((4000, 3000))
    limits = ImageLimits(max_decoded_pixels=4_000_000)
    decoded = decode_image(_encode(picture, "JPEG", quality=70), max_side=1000, limits=limits)
    assert decoded.image.size == (1000, 750)
    assert (decoded.width, decoded.height) == (4000, 3000)
    with pytest.raises(ImageError) as refused:
        decode_image(_encode(picture, "PNG", compress_level=1), max_side=1000, limits=limits)
    assert refused.value.reason == "too_many_pixels" and "megapixels" in str(refused.value)


@pytest.mark.parametrize(("orientation", "size", "top_left"), [
    (1, (200, 100), (255, 0, 0)),
    (3, (200, 100), (0, 0, 255)),  # rotated 180: blue comes first
    (6, (100, 200), (255, 0, 0)),  # rotated 90 clockwise: red on top
    (8, (100, 200), (0, 0, 255)),  # rotated 90 counter-clockwise: blue on top
])
def test_exif_orientation_is_applied(
    orientation: int, size: tuple[int, int], top_left: tuple[int, int, int]
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(_encode(_halves(), "JPEG", quality=90, exif=exif.tobytes()))
    assert decoded.image.size == size == (decoded.width, decoded.height)
    assert _close(decoded.image.getpixel((5, 5)), top_left)


def test_damaged_exif_only_costs_the_rotation() -> None:
    data = _encode(_halves(), "JPEG", exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff")
    assert decode_image(data).image.size == (200, 100)


def test_transparency_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (40, 20), (0, 0, 0, 0))  # transparent black
    image.paste((0, 0, 0, 255), (0, 0, 10, 20))  # an opaque black stripe
    decoded = decode_image(_encode(image, "PNG"))
    assert decoded.image.getpixel((30, 10)) == (255, 255, 255)
    assert decoded.image.getpixel((5, 10)) == (0, 0, 0)
    palette = image.convert("P", palette=Image.Palette.ADAPTIVE)
    palette.info["transparency"] = palette.getpixel((30, 10))
    gif = decode_image(_encode(palette, "GIF", transparency=palette.info["transparency"]))
    assert gif.image.getpixel((30, 10)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    gradient = Image.new("I", (256, 8))
    gradient.putdata([x * 257 for _ in range(8) for x in range(256)])  # 0..65535 left to right
    data = _encode(gradient.convert("I;16"), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    decoded = decode_image(data)
    values = [decoded.image.getpixel((x, 0))[0] for x in (0, 128, 255)]
    assert values[0] < 10 and 100 < values[1] < 160 and values[2] > 245


def test_animation_gives_its_first_frame_and_frame_count_is_capped() -> None:
    first = decode_image(valid_images()["animated.gif"])
    assert first.frames == 3
    first_frame = Image.open(io.BytesIO(valid_images()["animated.gif"])).convert("RGB")
    reference = decode_image(_encode(first_frame, "PNG"))
    assert first.image.tobytes() == reference.image.tobytes()
    with pytest.raises(ImageError) as refused:
        decode_image(valid_images()["animated.png"], limits=ImageLimits(max_frames=2))
    assert refused.value.reason == "too_many_frames"


class ReadTracker(bytes):
    """Bytes that remember the furthest index read through them (a proof of where reading stopped)."""

    furthest = -1

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        last = index.stop - 1 if isinstance(index, slice) and index.stop is not None else index
        if isinstance(last, int):
            self.furthest = max(self.furthest, last % len(self) if last < 0 else last)
        return super().__getitem__(index)


def test_gif_frames_are_counted_without_decoding_and_counting_stops_at_the_cap() -> None:
    data = ReadTracker(gif_with_frames(300_000))  # ~6.9 MB of 1x1 frames
    assert count_gif_frames(data, stop_after=1000) == 1001
    frame = (len(data) - len(gif_with_frames(0))) // 300_000
    assert 1000 * frame < data.furthest < 1002 * frame + 100  # it read up to the cap (23 KB of 6.9 MB)
    assert count_gif_frames(gif_with_frames(7), stop_after=1000) == 7
    assert count_gif_frames(b"GIF89a", stop_after=10) == 0


def test_limits_are_per_call_and_leave_pillow_global_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    data = _encode(_halves((100, 100)), "PNG")
    with pytest.raises(ImageError) as refused:
        decode_image(data, name="square.png", limits=ImageLimits(max_pixels=5000))
    assert refused.value.reason == "too_many_pixels"
    assert "100 x 100" in str(refused.value)
    assert decode_image(data).image.size == (100, 100)  # the next call has its own (default) limits
    assert before == Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as too_big:
        decode_image(data, limits=ImageLimits(max_file_bytes=100))
    assert too_big.value.reason == "file_too_big"


def test_files_that_are_not_there_or_not_files(tmp_path: Path) -> None:
    cases: list[tuple[Path, str]] = [(tmp_path / "nothing.png", "missing"), (tmp_path, "not_a_file")]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.png"
        os.mkfifo(fifo)  # nobody writes: a plain open() would wait forever
        cases.append((fifo, "not_a_file"))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    cases.append((empty, "empty"))
    for path, reason in cases:
        # A pipe is refused before it is opened: opening it would block for ever (pytest-timeout ends
        # such a run), so no clock is needed to see that it does not.
        with pytest.raises(ImageError) as refused:
            open_image(path)
        assert refused.value.reason == reason
        assert str(path) in str(refused.value)


def test_image_error_survives_pickling() -> None:
    error = ImageError("a.png", "damaged", "it is damaged", "Save it again.")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "Cannot use image a.png: it is damaged. Save it again."
    assert copy.reason == "damaged"


def test_image_core_imports_no_gui_or_ml_library() -> None:
    """OpenCV (pulled in by rapidocr) re-points Qt's plugin path on import: never in the window."""
    modules = ["assistant.images.safe_image", "assistant.images.reading_order", "assistant.images.ocr_text",
               "assistant.cli.describe", "assistant.bench.vision", "assistant.bench.text_images"]
    forbidden = ["PySide6", "cv2", "rapidocr_onnxruntime", "onnxruntime", "numpy", "torch"]
    code = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
        print(",".join(m for m in {forbidden!r} if m in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
