"""Command line: no arguments opens the window; subcommands share the same core as the GUI.

Heavy modules (Qt, the engine client) are imported inside the command that needs them so that
`assistant models` stays instant and the window path loads nothing it does not use.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Offline desktop assistant. Without a command, opens the window."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    commands = parser.add_subparsers(dest="command")

    ask = commands.add_parser("ask", help="ask a question and stream the answer to stdout")
    ask.add_argument("text", nargs="*", help="the question (optional with --audio/--image: summarises)")
    ask.add_argument("--no-save", action="store_true", help="do not keep this question in the history")
    ask.add_argument("--model", help="catalogue name or path to a .gguf (default: from settings)")
    ask.add_argument("--audio", metavar="FILE", action="append", default=[],
                     help="ask about this recording (transcribed first); repeat for several")
    ask.add_argument("--image", metavar="IMAGE", action="append", default=[],
                     help="ask about this image (its text read first); repeat for several")
    ask.add_argument("--screen", action="store_true",
                     help="ask about the whole screen, captured now (used like --image)")
    ask.add_argument("--docs", action="store_true",
                     help="answer from your indexed documents (`assistant docs add`), citing them")
    ask.add_argument("--doc", metavar="FILE", action="append", default=[],
                     help="ask about this PDF, DOCX, Markdown, HTML or text file (read whole when it fits, "
                          "else its passages that answer); repeat for several")

    models = commands.add_parser("models", help="list known models and whether they are ready")
    models_commands = models.add_subparsers(dest="models_command")
    import_clip = models_commands.add_parser(
        "import-clip", help="convert an OpenCLIP checkpoint to ONNX (needs the clip-import extra)")
    import_clip.add_argument("arch", help="OpenCLIP architecture (e.g. ViT-B-32) or a model config .json")
    import_clip.add_argument("checkpoint", help=".safetensors, or a .pt/.bin of plain tensors")
    import_clip.add_argument("--name", help="name of the installed model (default: the checkpoint's)")
    import_clip.add_argument("--force", action="store_true", help="replace a model of the same name")
    import_clip.add_argument(
        "--float32", action="store_true",
        help="keep the image tower in float32: embeddings equal torch's, ~1.6x slower on batches "
             "(default: int8 matrix products, within a cosine of 0.99 of float32)")
    add = models_commands.add_parser("add", help="copy (or link) GGUF files into the models folder")
    add.add_argument("paths", nargs="+", help=".gguf files (a vision model's projector comes along)")
    add.add_argument("--link", choices=["hardlink", "symlink"], help="link instead of copying")
    remove = models_commands.add_parser("remove", help="delete one of your own models")
    remove.add_argument("name", help="its name in `assistant models`")
    models_commands.add_parser("verify", help="re-check every model file against its checksum")
    download = models_commands.add_parser(
        "download", help="download a GGUF from the Hugging Face hub (every part, a vision model's "
                         "projector too; resumes; Ctrl+C keeps the part)")
    download.add_argument("repo", help="repository id, e.g. Qwen/Qwen2.5-1.5B-Instruct-GGUF")
    download.add_argument("file", help="file name in the repository (any part of a split model)")
    download.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    download.add_argument("--sha256", help="expected sha256 (default: the hub's own)")
    hub_search = models_commands.add_parser("search", help="search the Hugging Face hub for GGUF models")
    hub_search.add_argument("text", nargs="*", help="words in the repository id, e.g. qwen 1.5b")
    hub_search.add_argument("--limit", type=int, default=30, help="how many repositories (default 30)")
    hub_files = models_commands.add_parser(
        "files", help="a hub repository's GGUF files: quantization, size, memory and fit on this computer")
    hub_files.add_argument("repo", help="repository id, e.g. Qwen/Qwen2.5-1.5B-Instruct-GGUF")
    hub_files.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    install = models_commands.add_parser(
        "install", help="download a recommended model (listed by `assistant models`; resumes; Ctrl+C "
                        "keeps the part)")
    install.add_argument("name", help="its name in the list of recommended downloads")

    _add_docs_parser(commands)

    search_images = commands.add_parser("search-images", help="find images in the library by text (CLIP)")
    search_images.add_argument("text", nargs="*", help="what the image shows")
    search_images.add_argument("--similar", metavar="IMAGE", help="images like this file or stored hash")
    search_images.add_argument("--model", help="installed CLIP model (default: the first)")
    search_images.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    search_images.add_argument("--reindex", action="store_true",
                               help="embed the images shared before the CLIP model was installed")

    transcribe = commands.add_parser("transcribe", help="print the transcript of an audio file")
    transcribe.add_argument("file", help="wav, mp3, flac, ogg, m4a or webm")
    transcribe.add_argument("--translate", action="store_true", help="translate the speech into English")
    transcribe.add_argument("--language", help="the spoken language as a code such as 'de' (default: detect)")
    transcribe.add_argument("--model", help="speech model name (default: the catalogue's default)")

    describe = commands.add_parser("describe", help="print the text in an image (and its labels with CLIP)")
    describe.add_argument("image", nargs="?", help="png, jpeg, webp, gif, bmp or tiff (checked by content)")
    describe.add_argument("--screen", action="store_true", help="read the whole screen, captured now")
    describe.add_argument("--json", action="store_true", help="print text, boxes and labels as JSON")

    selftest = commands.add_parser("selftest", help="load the default model offline and answer one question")
    selftest.add_argument("--model", help="catalogue name or path to a .gguf (default: from settings)")

    bench = commands.add_parser("bench", help="benchmarks that print ratios against a baseline")
    bench.add_argument("suite", choices=["llm", "startup", "voice", "vision", "download", "fit",
                                          "remote", "qa", "docs", "capture", "reliability"],
                       help="what to measure")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options passed to the suite (see --help)")
    return parser


def _add_docs_parser(commands: argparse._SubParsersAction) -> None:
    docs = commands.add_parser("docs", help="your documents: add files and folders, list, remove, search")
    docs_commands = docs.add_subparsers(dest="docs_command", required=True)
    add = docs_commands.add_parser(
        "add", help="index files or folders (PDF, DOCX, Markdown, text, HTML, code); Ctrl+C stops and keeps "
                    "what is done")
    add.add_argument("paths", nargs="+", help="files or folders")
    add.add_argument("--no-vectors", action="store_true",
                     help="keyword search only: do not embed the passages (faster, finds fewer paraphrases)")
    docs_commands.add_parser("list", help="the sources, their files, passages, last indexing and problems")
    remove = docs_commands.add_parser("remove", help="forget a source with its passages and vectors")
    remove.add_argument("source", help="its path, or its name as `docs list` shows it")
    docs_commands.add_parser("update", help="pick up files added, changed or removed since the last run")
    search = docs_commands.add_parser("search", help="the passages that best match TEXT, with file and page")
    search.add_argument("text", nargs="+", help="what you are looking for")
    search.add_argument("-k", type=int, default=6, help="how many passages (default 6)")
    search.add_argument("--mode", choices=["hybrid", "bm25", "vector"], default="hybrid",
                        help="hybrid (default), keywords only (bm25) or meaning only (vector)")


def main(argv: Sequence[str] | None = None) -> int:
    if os.environ.get("ASSISTANT_NETWORK_AUDIT"):  # the offline proof: count every network attempt
        from assistant import network_audit

        network_audit.install_from_env()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(processName)s %(name)s %(levelname)s: %(message)s",
    )
    if getattr(args, "screen", False):  # the screen, captured now, stands in for an image file
        from assistant.cli.screen import capture_for

        if not capture_for(args):
            return 1
    if args.command is None:
        from assistant.ui.app import run_gui

        return run_gui(sys.argv[:1])
    if args.command == "models":
        if args.models_command == "import-clip":
            from assistant.clip.importer import import_clip_command

            return import_clip_command(args.arch, args.checkpoint, args.name, args.force,
                                       int8=not args.float32)
        if args.models_command in ("search", "files", "download"):  # the hub: connects only here
            return _hub_models(args)
        if args.models_command == "install":  # a curated pick from the hub: connects only here
            from assistant.cli.models import install_command

            return install_command(args.name)
        if args.models_command in ("add", "remove", "verify"):
            return _manage_models(args)
        return _models()
    if args.command == "search-images":
        from assistant.cli.search_images import search_images_command

        if args.reindex:  # then the search, when text (or --similar) was given too
            from assistant.cli.search_images import reindex_command

            code = reindex_command(model=args.model)
            if code or not (args.text or args.similar):
                return code
        return search_images_command(" ".join(args.text), model=args.model, k=args.k, similar=args.similar)
    if args.command == "ask":
        from assistant.cli.ask import ask

        # No text is fine with attachments (a default question); without, the session refuses it (exit 2).
        return ask(" ".join(args.text), model=args.model, save=not args.no_save, audio=args.audio,
                   images=args.image, docs=args.docs, documents=args.doc)
    if args.command == "docs":
        from assistant.cli.docs import docs_command

        return docs_command(args)
    if args.command == "transcribe":
        from assistant.cli.transcribe import transcribe_command

        return transcribe_command(
            args.file, translate=args.translate, language=args.language, model=args.model
        )
    if args.command == "describe":
        from assistant.cli.describe import describe_command

        if not args.image:
            print("assistant: describe needs an IMAGE (or --screen)", file=sys.stderr)
            return 2
        return describe_command(args.image, as_json=args.json, label=getattr(args, "image_label", None))
    if args.command == "selftest":
        from assistant.cli.selftest import run_selftest

        return run_selftest(model=args.model)
    if args.command == "bench":
        return _bench(args.suite, args.args)
    raise AssertionError(args.command)


def _models() -> int:
    from assistant import settings
    from assistant.models import catalog, vision_pairing

    data_dir = settings.data_dir()
    print(catalog.format_models_table(catalog.all_models(data_dir), data_dir))
    from assistant.cli.models import picks_table

    print(f"\n{picks_table(data_dir)}")
    from assistant.clip.folder import format_clip_models

    clip_models = format_clip_models(data_dir)
    if clip_models:
        print(f"\n{clip_models}")
    # Vision pairs and the projectors left over, each with its reason.
    vision = vision_pairing.format_vision(vision_pairing.scan_vision(catalog.user_model_dirs(data_dir)))
    if vision:
        print("\n" + vision)
    return 0


def _manage_models(args: argparse.Namespace) -> int:
    from assistant.cli import models as cli_models

    if args.models_command == "add":
        return cli_models.add_command(args.paths, args.link or "copy")
    if args.models_command == "remove":
        return cli_models.remove_command(args.name)
    return cli_models.verify_command()


def _hub_models(args: argparse.Namespace) -> int:
    from assistant.cli import models_hub

    if args.models_command == "search":
        return models_hub.search_command(" ".join(args.text), args.limit)
    if args.models_command == "files":
        return models_hub.files_command(args.repo, args.revision)
    return models_hub.download_command(args.repo, args.file, args.revision, args.sha256)


def _bench(suite: str, argv: list[str]) -> int:
    if suite == "reliability":  # issue 15's sweep: kills, torn writes, mutants, soak (one table)
        from assistant.bench.reliability import main as bench_reliability

        return bench_reliability(argv)
    if suite == "docs":  # your documents: indexing, query latency, recall@5, asking (bench/docs_ask.py)
        from assistant.bench.docs_ask import main as bench_docs

        return bench_docs(argv)
    if suite == "fit":  # the first-run benchmark of each installed chat model
        from assistant.bench.fit import main as bench_fit

        return bench_fit(argv)
    if suite == "qa":  # factual questions: the app's score against raw llama-cpp-python greedy
        from assistant.bench.qa import main as bench_qa

        return bench_qa(argv)
    if suite == "download":
        from assistant.bench.download import main as bench_download

        return bench_download(argv)
    if suite == "llm":
        from assistant.bench.llm import main as bench_llm

        return bench_llm(argv)
    if suite == "voice":
        from assistant.bench.voice import main as bench_voice

        return bench_voice(argv)
    if suite == "remote":  # tokens/s from an OpenAI-compatible server: through the app vs direct
        from assistant.bench.remote import main as bench_remote

        return bench_remote(argv)
    if suite == "capture":  # screen capture in the real window: capture -> chip, capture -> text read
        from assistant.cli.bench_capture import main as bench_capture

        return bench_capture(argv)
    if suite == "vision":
        from assistant.bench.vision import main as bench_vision

        return bench_vision(argv)
    from assistant.bench.startup import main as bench_startup

    return bench_startup(argv)
