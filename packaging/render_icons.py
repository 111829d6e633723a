"""Render resources/icons/assistant.svg into the PNG sizes, .ico and .icns the bundle and menus use.

Run after editing the SVG: ``python packaging/render_icons.py`` (needs ``rsvg-convert``, Debian
``librsvg2-bin``, and Pillow). The outputs are committed, so building the bundle needs neither.
Each PNG size is rendered from the vector (not scaled down from 512 px), so small sizes stay sharp.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SOURCE = ICONS / "assistant.svg"
# freedesktop hicolor sizes; 1024 only feeds the macOS .icns.
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)

log = logging.getLogger("render_icons")


def png_path(size: int) -> Path:
    return ICONS / f"assistant-{size}.png"


def render(size: int, target: Path) -> None:
    subprocess.run(["rsvg-convert", "-w", str(size), "-h", str(size), str(SOURCE), "-o", str(target)],
                   check=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if shutil.which("rsvg-convert") is None:
        log.error("rsvg-convert not found: install librsvg2-bin (Debian) or librsvg (Homebrew)")
        return 1
    for size in PNG_SIZES:
        render(size, png_path(size))
    big = ICONS / "assistant-1024.tmp.png"
    render(1024, big)
    try:
        with Image.open(big) as image:
            image.load()
            image.save(ICONS / "assistant.icns", sizes=[(s, s) for s in ICNS_SIZES])
    finally:
        big.unlink()
    # Pillow's ICO writer scales one image; give it the sharp 256 px render.
    with Image.open(png_path(256)) as image:
        image.save(ICONS / "assistant.ico", sizes=[(s, s) for s in ICO_SIZES])
    shutil.copyfile(png_path(256), ICONS / "assistant.png")  # the plain name other code looks for
    log.info("wrote %d PNGs, assistant.ico and assistant.icns into %s", len(PNG_SIZES), ICONS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
