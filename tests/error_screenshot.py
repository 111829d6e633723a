"""A small screenshot of an error dialog, drawn with Pillow, whose text the tests know exactly."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from assistant.bench.text_images import font

TITLE = "Windows Explorer"
MESSAGE = "Error 0x80070005: Access is denied"


def render_error_dialog() -> Image.Image:
    """Title bar, red error icon, the message, an OK button: like a cropped screenshot."""
    image = Image.new("RGB", (560, 200), "#f0f0f0")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 559, 32), fill="white")
    draw.text((12, 8), TITLE, font=font(15), fill="#1b1b1b")
    draw.ellipse((24, 64, 64, 104), fill="#c42b1c")
    draw.line((36, 76, 52, 92), fill="white", width=4)
    draw.line((36, 92, 52, 76), fill="white", width=4)
    draw.text((84, 72), MESSAGE, font=font(17), fill="#1b1b1b")
    draw.rounded_rectangle((440, 150, 540, 182), radius=4, fill="#0a64d8")
    draw.text((478, 156), "OK", font=font(15), fill="white")
    return image


def save_error_dialog(path: Path) -> Path:
    render_error_dialog().save(path)
    return path
