"""Image preprocessing in Pillow and numpy that reproduces OpenCLIP's evaluation transform exactly.

OpenCLIP (``open_clip.image_transform(..., is_train=False)``) runs torchvision's
``Resize(shortest side, BICUBIC)`` → ``CenterCrop`` → ``convert("RGB")`` → ``ToTensor`` → ``Normalize``.
For a PIL image torchvision delegates both geometric steps to Pillow, so doing the same Pillow calls with
the same sizes gives identical pixels; the arithmetic below is the same float32 arithmetic as ToTensor
and Normalize. The order matters (resize before the RGB conversion: an RGBA image is resized with
premultiplied alpha, a palette image with nearest-neighbour), so it is kept.

Loading from a file or bytes goes through the app's safe decoder, which also applies the EXIF
orientation (OpenCLIP leaves that to the caller: a phone photo taken upright should be seen upright).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

ImageInput = Any  # PIL.Image.Image | numpy uint8 array (H, W[, C]) | bytes | str | Path

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


class ImageLoadError(ValueError):
    """An array that is not an image (wrong dtype or shape)."""


@dataclass(frozen=True)
class PreprocessSpec:
    size: tuple[int, int]  # (H, W)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"

    @classmethod
    def of(cls, config: Any) -> PreprocessSpec:
        """From a `ClipConfig` (or anything with the same attributes)."""
        return cls(tuple(config.image_size), tuple(config.mean), tuple(config.std),
                   config.interpolation, config.resize_mode)


def load_image(source: ImageInput) -> Image.Image:
    """A PIL image from a path, bytes, a numpy array or a PIL image (returned as it is).

    Files and bytes go through `assistant.images.safe_image` (format allow-list, pixel limits, EXIF
    orientation, transparency flattened onto white), and so raise its `ImageError` with a message.
    """
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    from assistant.images.safe_image import decode_image, open_image

    if isinstance(source, bytes | bytearray | memoryview):
        return decode_image(bytes(source)).image
    return open_image(source).image


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        raise ImageLoadError(f"an image array must be uint8, not {array.dtype}")
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
        return Image.fromarray(array)
    raise ImageLoadError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), not {array.shape}")


def _resized(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    height, width = spec.size
    if spec.resize_mode == "squash":
        target = (width, height)
    else:
        # torchvision's _compute_resized_output_size for a single (shortest-side) size.
        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = height, int(height * long / short)
        target = (new_short, new_long) if w <= h else (new_long, new_short)
    if image.size == target:
        return image
    return image.resize(target, _RESAMPLE[spec.interpolation])


def _center_cropped(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    height, width = spec.size
    w, h = image.size
    if (w, h) == (width, height):
        return image
    top, left = round((h - height) / 2.0), round((w - width) / 2.0)  # torchvision's int(round(...))
    return image.crop((left, top, left + width, top + height))


def resized_rgb(image: ImageInput, spec: PreprocessSpec) -> np.ndarray:
    """uint8 (H, W, 3): resized and cropped, not normalised (for towers that normalise inside)."""
    return np.asarray(_center_cropped(_resized(load_image(image), spec), spec).convert("RGB"), dtype=np.uint8)


def preprocess(image: ImageInput, spec: PreprocessSpec) -> np.ndarray:
    """float32 (3, H, W), normalised as the model was trained."""
    pixels = resized_rgb(image, spec).astype(np.float32) / np.float32(255.0)
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return ((pixels - mean) / std).transpose(2, 0, 1)


def rgb_batch(images: Sequence[ImageInput], spec: PreprocessSpec) -> np.ndarray:
    """uint8 (N, H, W, 3), contiguous: the input of an image tower that normalises inside its graph."""
    height, width = spec.size
    batch = np.empty((len(images), height, width, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        batch[i] = resized_rgb(image, spec)
    return batch


def preprocess_batch(images: Sequence[ImageInput], spec: PreprocessSpec) -> np.ndarray:
    """float32 (N, 3, H, W), contiguous, ready for the image tower."""
    height, width = spec.size
    batch = np.empty((len(images), 3, height, width), dtype=np.float32)
    for i, image in enumerate(images):
        batch[i] = preprocess(image, spec)
    return batch
