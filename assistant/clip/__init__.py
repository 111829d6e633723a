"""CLIP on onnxruntime: image and text embeddings without torch at run time.

A CLIP model is a folder under ``<data_dir>/models/clip/<name>/`` written by
``assistant models import-clip ARCH CHECKPOINT`` (``assistant/clip/importer.py``)::

    config.json      what the app needs to run the model (below)
    image.onnx       image tower: pixel_values float32 [batch, 3, H, W] -> image_embeds float32 [batch, D]
    text.onnx        text tower:  input_ids int64 [batch, context_length] -> text_embeds float32 [batch, D]
    tokenizer.json   CLIP's byte-level BPE for the `tokenizers` package (ids equal open_clip.tokenize's)

``config.json`` (``format`` = "assistant-clip", ``format_version`` = 1)::

    name, arch          the folder's name; the OpenCLIP architecture it was exported from
    embed_dim           D, the length of both towers' embeddings
    image_size          [H, W] of the image tower's input (square)
    mean, std           per-channel normalisation of pixels scaled to 0..1 (OpenCLIP's preprocess_cfg)
    interpolation       "bicubic" | "bilinear": resampling of the shortest-side resize
    resize_mode         "shortest" (resize the shorter side, centre crop) | "squash" (resize to H x W)
    context_length      tokens per text (padded with 0, truncated with the end token kept)
    text_clean          "lower" | "whitespace" | "canonicalize": OpenCLIP's text cleaning before BPE
    logit_scale         exp(learned temperature): zero-shot probabilities are softmax(scale * cosine)
    image_precision     "int8" (default: int8 matrix products, image tower only) | "float32" (``--float32``)
    files               {"image"|"text"|"tokenizer": {"path", "size", "sha256"}}
    source              the checkpoint's file name and sha256, and the versions that exported it

Immich's ONNX export of OpenCLIP models (``config.json``, ``visual/model.onnx`` with
``visual/preprocess_cfg.json``, ``textual/model.onnx`` with Hugging Face tokenizer files; what the
recommended ``clip-vit-b-32-openai`` download is) is read as well: ``assistant.clip.immich`` documents it.

Embeddings are L2-normalised float32, so a dot product is the cosine similarity. Nothing in this
package imports torch or onnxruntime: the runtime is ``assistant.engines.clip_onnx`` (the rest here is
numpy, Pillow and tokenizers).
"""
