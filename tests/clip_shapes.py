"""A tiny OpenCLIP model trained in seconds on generated images of coloured shapes (tests only).

No CLIP weights can be downloaded on these machines, so the tests make a model that knows something
real: "a red circle" must match a picture of a red circle and not of a blue one. The images vary in
size, aspect ratio, position, scale and background so that the model learns colour and shape rather
than pixels, and held-out images come from another seed.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 210, 20)}
SHAPES = ("circle", "square", "triangle")
CLASSES = [(colour, shape) for colour in COLOURS for shape in SHAPES]
IMAGE_SIZE = 32
CONTEXT = 16

TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": CONTEXT, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def caption(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


def draw(colour: str, shape: str, rng: random.Random) -> Image.Image:
    """One picture; not square, so the app's resize and centre crop are exercised."""
    width, height = rng.randint(40, 60), rng.randint(36, 52)
    grey = rng.randint(170, 250)
    image = Image.new("RGB", (width, height), (grey, grey, grey))
    pen = ImageDraw.Draw(image)
    side = min(width, height)
    radius = rng.uniform(0.32, 0.45) * side
    cx = width / 2 + rng.uniform(-0.08, 0.08) * side
    cy = height / 2 + rng.uniform(-0.08, 0.08) * side
    fill = tuple(min(255, max(0, c + rng.randint(-20, 20))) for c in COLOURS[colour])
    if shape == "circle":
        pen.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    elif shape == "square":
        pen.rectangle((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    else:
        pen.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=fill)
    return image


def dataset(per_class: int, seed: int) -> list[tuple[Image.Image, int]]:
    rng = random.Random(seed)
    return [(draw(colour, shape, rng), label)
            for _ in range(per_class) for label, (colour, shape) in enumerate(CLASSES)]


@dataclass
class Trained:
    config_path: Path  # the OpenCLIP model config (its stem is the architecture name)
    checkpoint: Path  # .safetensors
    model: object  # the trained open_clip model, in eval mode
    seconds: float


def train(folder: Path, *, steps: int = 200, seed: int = 0) -> Trained:
    """Trains the tiny model (seconds on one core) and saves its config and weights.

    One torch thread: on a 2-core machine shared with other work, two OpenMP threads spin-wait for each
    other and the same training takes ten times longer. The loss is CLIP's, both ways: each image
    against the 12 captions, and each caption against the batch's images (all its class as targets).
    """
    import math

    import open_clip
    import torch
    from safetensors.torch import save_file

    from assistant.clip.preprocess import PreprocessSpec, preprocess_batch

    started = time.perf_counter()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    config_path = folder / "tiny-shapes-clip.json"
    config_path.write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    open_clip.add_model_config(config_path)
    model = open_clip.create_model(config_path.stem, pretrained=None)
    pre = model.visual.preprocess_cfg
    spec = PreprocessSpec((IMAGE_SIZE, IMAGE_SIZE), tuple(pre["mean"]), tuple(pre["std"]))

    data = dataset(per_class=64, seed=seed + 1)
    pixels = torch.from_numpy(preprocess_batch([image for image, _ in data], spec))
    labels = torch.tensor([label for _, label in data])
    tokens = open_clip.tokenize([caption(*c) for c in CLASSES], context_length=CONTEXT)

    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(  # 20 steps of warm-up, then cosine decay to zero
        optimiser, lambda s: min(1.0, (s + 1) / 20) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(data), (48,), generator=generator)
        image = torch.nn.functional.normalize(model.encode_image(pixels[batch]), dim=-1)
        text = torch.nn.functional.normalize(model.encode_text(tokens), dim=-1)
        logits = model.logit_scale.exp() * image @ text.T
        targets = torch.nn.functional.one_hot(labels[batch], len(CLASSES)).T.float()
        present = targets.sum(dim=1) > 0
        targets = targets[present] / targets[present].sum(dim=1, keepdim=True)
        loss = (torch.nn.functional.cross_entropy(logits, labels[batch])
                + torch.nn.functional.cross_entropy(logits.T[present], targets)) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    model.eval()
    checkpoint = folder / "tiny-shapes.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(checkpoint))
    return Trained(config_path, checkpoint, model, time.perf_counter() - started)


def as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.uint8)
