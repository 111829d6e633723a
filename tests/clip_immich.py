"""Exports the tests' tiny trained OpenCLIP model in Immich's ONNX layout (see assistant/clip/immich.py).

What immich-app/ml-models' exporter does, on our weights: OpenCLIP's model config as config.json,
``open_clip.get_model_preprocess_cfg`` as visual/preprocess_cfg.json, each tower as
``encode_*(normalize=True)`` with inputs "image" (float32, batch fixed at 1) and "text" (int32, batch 1),
and the Hugging Face CLIP tokenizer files in textual/. transformers is not installed here (and
``AutoTokenizer.from_pretrained`` would need the network), so the tokenizer.json is built the way
``CLIPTokenizerFast`` serialises CLIP's BPE: the same vocabulary and merges as OpenCLIP's, the
``<|startoftext|>``/``<|endoftext|>`` names, its normaliser and split pattern, RobertaProcessing.
``uint8_input`` exports the image tower as Immich's newer exporter does: uint8 RGB [batch, H, W, 3] with
the normalisation inside the graph.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

START, END = "<|startoftext|>", "<|endoftext|>"
# transformers' CLIP pre-tokenizer pattern (convert_slow_tokenizer.CLIPConverter)
HF_PATTERN = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]"
              r"|[^\s\p{L}\p{N}]+")


def hf_clip_tokenizer_json() -> str:
    from open_clip.tokenizer import default_bpe
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    from assistant.clip.tokenizer_json import bytes_to_unicode, read_merges

    merges = read_merges(Path(default_bpe()))
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START, END]
    vocab = {token: i for i, token in enumerate(vocab_list)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=END, continuing_subword_prefix="",
                                     end_of_word_suffix="</w>", fuse_unk=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(HF_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([START, END])
    tokenizer.post_processor = processors.RobertaProcessing(
        (END, vocab[END]), (START, vocab[START]), trim_offsets=False, add_prefix_space=False)
    return tokenizer.to_str(pretty=False)


def export_immich(model: Any, model_config: dict[str, Any], folder: Path, *, uint8_input: bool = False
                  ) -> Path:
    import open_clip
    import torch

    visual, textual = folder / "visual", folder / "textual"
    visual.mkdir(parents=True)
    textual.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(model_config), encoding="utf-8")
    pre = open_clip.get_model_preprocess_cfg(model)
    (visual / "preprocess_cfg.json").write_text(json.dumps(pre), encoding="utf-8")
    size = model.visual.image_size
    height, width = size if isinstance(size, tuple | list) else (size, size)
    mean = torch.tensor(pre["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(pre["std"]).view(1, 3, 1, 1)

    class Image(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, image: Any) -> Any:
            if uint8_input:
                image = (image.float() / 255.0).permute(0, 3, 1, 2)
                image = (image - mean) / std
            return self.model.encode_image(image, normalize=True)

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, text: Any) -> Any:
            return self.model.encode_text(text, normalize=True)

    image_example = (torch.zeros(2, height, width, 3, dtype=torch.uint8) if uint8_input
                     else torch.randn(1, 3, height, width))
    context = int(model_config["text_cfg"].get("context_length", 77))
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # as Immich's exporter: the fused op has no ONNX form
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Image().eval(), (image_example,), str(visual / "model.onnx"), input_names=["image"],
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"image": {0: "batch"}} if uint8_input else None)
        torch.onnx.export(Text().eval(), (torch.ones(1, context, dtype=torch.int32),),
                          str(textual / "model.onnx"), input_names=["text"], output_names=["embedding"],
                          opset_version=17, dynamo=False)
    torch.backends.mha.set_fastpath_enabled(fastpath)
    (textual / "tokenizer.json").write_text(hf_clip_tokenizer_json(), encoding="utf-8")
    special = {"bos_token": START, "eos_token": END, "pad_token": END, "unk_token": END}
    (textual / "special_tokens_map.json").write_text(json.dumps(special), encoding="utf-8")
    (textual / "tokenizer_config.json").write_text(json.dumps(
        {**special, "model_max_length": context, "do_lower_case": True, "tokenizer_class": "CLIPTokenizer"}),
        encoding="utf-8")
    return folder
