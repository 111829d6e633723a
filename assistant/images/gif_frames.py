"""Count the frames of a GIF without decoding them, and stop counting at a limit.

Pillow's `n_frames` walks the whole file however many frames it holds; a GIF of a few MB can hold
hundreds of thousands of tiny frames, so counting that way is unbounded work before a single pixel
is shown. This walks the block structure (GIF89a spec, section 17 onwards) over bytes already in
memory and gives up as soon as the count passes `stop_after`.
"""

from __future__ import annotations

HEADER = 13  # "GIF89a" + logical screen descriptor
EXTENSION, IMAGE, TRAILER = 0x21, 0x2C, 0x3B


def _color_table_bytes(flags: int) -> int:
    return 3 * (2 ** ((flags & 0x07) + 1)) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    """Position after a chain of data sub-blocks (each: one length byte, then that many bytes)."""
    end = len(data)
    while pos < end:
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def count_gif_frames(data: bytes, stop_after: int) -> int:
    """Frames in the GIF `data`, or `stop_after + 1` as soon as there are more than `stop_after`.

    Damaged structure ends the count early (the decoder reports the damage itself, with a message).
    """
    if len(data) < HEADER or not data.startswith((b"GIF87a", b"GIF89a")):
        return 0
    pos = HEADER + _color_table_bytes(data[10])
    frames = 0
    end = len(data)
    while pos < end:
        block = data[pos]
        if block == IMAGE:
            frames += 1
            if frames > stop_after:
                return frames
            if pos + 10 > end:
                break
            pos += 10 + _color_table_bytes(data[pos + 9])
            pos = _skip_sub_blocks(data, pos + 1)  # +1: the LZW minimum code size byte
        elif block == EXTENSION:
            pos = _skip_sub_blocks(data, pos + 2)  # introducer + label
        else:  # the trailer, or bytes that are not GIF blocks
            break
    return frames
