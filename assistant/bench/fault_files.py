"""Broken recordings and malformed documents for the reliability sweep (issue 15), seeded.

Each corpus starts from small valid files of every format the app takes (WAV, FLAC, MP3, OGG/Vorbis,
Opus, M4A/AAC, WebM for audio, encoded with PyAV; PDF, DOCX, Markdown, HTML and text for documents) and
breaks them where parsers trust what a file says about itself: cut short, bits flipped, header and
chunk sizes, channel counts and sample rates set to 0, 1 or huge, PDF cross-reference offsets and stream
lengths, page trees that point at themselves, ZIP members that are missing, damaged or lie about
their size, XML nested a thousand deep, HTML and Markdown nested until a recursive parser gives up,
NUL bytes, mixed encodings, and files whose extension lies about their content.
"""

from __future__ import annotations

import io
import math
import random
import struct
import wave
import zipfile
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BadFile:
    name: str  # file name, extension included
    data: bytes


# ---- audio -----------------------------------------------------------------------------------------

SAMPLE_RATE = 16_000


def tone_and_noise(seconds: float = 1.5, rate: int = SAMPLE_RATE) -> list[int]:
    """Int16 samples: a gliding tone under a little noise (any sound does; the content is not judged)."""
    rng = random.Random(3)
    out = []
    for i in range(int(seconds * rate)):
        t = i / rate
        value = 0.3 * math.sin(2 * math.pi * (220 + 180 * t) * t) + rng.uniform(-0.02, 0.02)
        out.append(int(max(-1.0, min(1.0, value)) * 32767))
    return out


def wav_bytes(samples: list[int], rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()


def encoded(samples: list[int], container: str, codec: str, rate: int) -> bytes:
    """`samples` (16 kHz mono int16) encoded by PyAV into `container` with `codec` at `rate`."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.array([samples], dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(piece):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def audio_seeds() -> dict[str, bytes]:
    """One valid short recording per format the app attaches (by extension)."""
    samples = tone_and_noise()
    seeds = {"wav": wav_bytes(samples)}
    formats = (("flac", "flac", "flac", 16_000), ("mp3", "mp3", "libmp3lame", 16_000),
               ("ogg", "ogg", "libvorbis", 16_000), ("opus", "ogg", "libopus", 48_000),
               ("m4a", "ipod", "aac", 16_000), ("webm", "webm", "libopus", 48_000))
    for extension, container, codec, rate in formats:
        try:
            seeds[extension] = encoded(samples, container, codec, rate)
        except Exception:  # an FFmpeg build without that encoder: the other formats still run
            continue
    return seeds


def _wav_header_mutants(data: bytes) -> list[BadFile]:
    """The RIFF/WAVE header's fields, one at a time: sizes, format, channels, rate, bits, data size."""
    fields = {"riff-size": (4, "<I"), "fmt-size": (16, "<I"), "format": (20, "<H"), "channels": (22, "<H"),
              "rate": (24, "<I"), "byte-rate": (28, "<I"), "align": (32, "<H"), "bits": (34, "<H"),
              "data-size": (40, "<I")}
    out = []
    for name, (at, fmt) in fields.items():
        top = (1 << (8 * struct.calcsize(fmt))) - 1
        for value in (0, 1, 3, top, top // 2 + 1):
            damaged = bytearray(data)
            damaged[at:at + struct.calcsize(fmt)] = struct.pack(fmt, value)
            out.append(BadFile(f"wav-{name}-{value:x}.wav", bytes(damaged)))
    return out


def _spread(picked: list[BadFile], count: int, first: int) -> list[BadFile]:
    """All of `picked` when `count` allows; else two thirds from its first `first` (the hand-picked
    kinds) and a third from the rest (the header fields), each spread evenly."""
    if count >= len(picked):
        return list(picked)
    head, tail = picked[:first], picked[first:]
    n_head = min(len(head), count - min(len(tail), count // 3))
    n_tail = count - n_head
    return ([head[int(i * len(head) / n_head)] for i in range(n_head)]
            + [tail[int(i * len(tail) / n_tail)] for i in range(n_tail)])


def audio_cases(count: int, seed: int = 15) -> list[BadFile]:
    """`count` broken recordings: hand-picked kinds first (every quick run has some of each), then
    seeded cuts, bit flips and overwritten header bytes of every format."""
    rng = random.Random(seed)
    seeds = audio_seeds()
    wav = seeds["wav"]
    picked = [
        BadFile("empty-but-one-byte.wav", b"\x00"),
        BadFile("header-only.wav", wav[:44]),
        BadFile("text.mp3", b"This is not a recording, just a note.\n" * 20),
        BadFile("random.flac", rng.randbytes(4000)),
        BadFile("png-inside.ogg", b"\x89PNG\r\n\x1a\n" + rng.randbytes(500)),
        BadFile("mp3-named.wav", seeds.get("mp3", wav)),
        BadFile("zeros.m4a", bytes(5000)),
        BadFile("id3-huge.mp3", b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + seeds.get("mp3", b"")[:2000]),
        BadFile("riff-only.wav", b"RIFF\xff\xff\xff\xffWAVE"),
        BadFile("eight-channels.wav", wav_bytes(tone_and_noise(0.5) * 8, channels=8)),
        BadFile("one-hertz.wav", wav_bytes(tone_and_noise(0.2), rate=1)),
        BadFile("max-rate.wav", wav_bytes(tone_and_noise(0.2), rate=2**31 - 1)),
        BadFile("mp4-atom-zero.m4a", b"\x00\x00\x00\x00ftypM4A " + seeds.get("m4a", b"")[12:]),
        BadFile("mp4-atom-huge.m4a", b"\xff\xff\xff\xffftypM4A " + seeds.get("m4a", b"")[12:]),
        BadFile("silence.wav", wav_bytes([0] * SAMPLE_RATE)),
        *_wav_header_mutants(wav),
    ]
    out = _spread(picked, count, first=15)
    extensions = sorted(seeds)
    while len(out) < count:
        extension = extensions[len(out) % len(extensions)]
        data = seeds[extension]
        kind = len(out) % 3
        if kind == 0:
            keep = rng.randrange(1, len(data))
            out.append(BadFile(f"cut-{len(out)}-{keep}.{extension}", data[:keep]))
        elif kind == 1:
            damaged = bytearray(data)
            for _ in range(1 + rng.randrange(24)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            out.append(BadFile(f"flip-{len(out)}.{extension}", bytes(damaged)))
        else:  # header bytes: where containers keep sizes and counts
            damaged = bytearray(data)
            at = rng.randrange(min(len(damaged) - 4, 200))
            damaged[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff",
                                            rng.randbytes(4)])
            out.append(BadFile(f"header-{len(out)}-at{at}.{extension}", bytes(damaged)))
    return out


# ---- documents -------------------------------------------------------------------------------------

FACT = "The Harbour ledger of Ozzelmark records 5,120 crowns for the lighthouse."


def pdf_bytes(text: str = FACT, pages: int = 2) -> bytes:
    """A small text PDF: `text` on every page."""
    return raw_pdf_bytes(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1"), pages)


def raw_pdf_bytes(content: bytes, pages: int = 1) -> bytes:
    """A PDF written by hand: `pages` pages sharing one content stream, with a correct xref table (the
    tests' huge streams and 10,000-page files are written with it too)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages)).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(pages).encode() + b" >>")
    objects.append(b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream")
    font = 4 + pages
    for _ in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                       b"/Resources << /Font << /F1 " + str(font).encode() + b" 0 R >> >> >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def docx_bytes(paragraphs: list[str] | None = None) -> bytes:
    import docx  # python-docx: what the app reads DOCX with, so its files are the realistic seed

    document = docx.Document()
    document.add_heading("Harbour report", level=1)
    for paragraph in paragraphs or [FACT, "The second paragraph names the Quillfeather fund."]:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _rezip(data: bytes, change: Callable[[str, bytes], bytes | None]) -> bytes:
    """The DOCX with each member passed through `change` (None drops the member)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            body = change(item.filename, source.read(item.filename))
            if body is not None:
                target.writestr(item.filename, body)
    return out.getvalue()


def _replace(docx: bytes, member: str, body: bytes | None) -> bytes:
    """The DOCX with `member` replaced by `body` (None: left out)."""
    return _rezip(docx, lambda name, old: body if name == member else old)


def _document_xml(body: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            f"<w:body>{body}</w:body></w:document>").encode()


def document_seeds() -> dict[str, bytes]:
    return {
        "pdf": pdf_bytes(),
        "docx": docx_bytes(),
        "md": f"# Harbour report\n\n{FACT}\n\n- first\n- second\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
              .encode(),
        "html": (f"<html><head><title>Report</title></head><body><h1>Harbour</h1><p>{FACT}</p></body>"
                 "</html>").encode(),
        "txt": f"{FACT}\nA second line.\n".encode(),
    }


def document_cases(count: int, seed: int = 15) -> list[BadFile]:
    """`count` malformed documents: hand-picked kinds first, then seeded cuts and bit flips."""
    rng = random.Random(seed)
    seeds = document_seeds()
    pdf, docx = seeds["pdf"], seeds["docx"]
    xref = pdf.rindex(b"startxref\n") + len(b"startxref\n")
    loop_pdf = pdf.replace(b"/Kids [4 0 R 5 0 R]", b"/Kids [2 0 R 4 0 R]")
    entity_bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                   + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                             for i in range(1, 10))
                   + ']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                   '<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>').encode()
    deep_xml = _document_xml("<w:p>" * 5000 + "<w:r><w:t>deep</w:t></w:r>" + "</w:p>" * 5000)
    picked = [
        BadFile("pdf-header-only.pdf", b"%PDF-1.7\n"),
        BadFile("pdf-bad-startxref.pdf", pdf[:xref] + b"99999999\n%%EOF\n"),
        BadFile("pdf-no-xref.pdf", pdf[:pdf.index(b"xref\n")]),
        BadFile("pdf-page-tree-loop.pdf", loop_pdf),
        BadFile("pdf-length-huge.pdf", pdf.replace(b"/Length ", b"/Length 9999999", 1)),
        BadFile("pdf-count-huge.pdf", pdf.replace(b"/Count 2", b"/Count 2147483647")),
        BadFile("pdf-count-negative.pdf", pdf.replace(b"/Count 2", b"/Count -5")),
        BadFile("pdf-named.docx", pdf),
        BadFile("docx-missing-document.docx", _replace(docx, "word/document.xml", None)),
        BadFile("docx-garbage-xml.docx", _replace(docx, "word/document.xml", b"<w:document><<<")),
        BadFile("docx-entity-bomb.docx", _replace(docx, "word/document.xml", entity_bomb)),
        BadFile("docx-deep-xml.docx", _replace(docx, "word/document.xml", deep_xml)),
        BadFile("docx-no-content-types.docx", _replace(docx, "[Content_Types].xml", None)),
        BadFile("docx-crc-broken.docx", _crc_broken(docx)),
        BadFile("docx-text.docx", b"just text in a .docx"),
        BadFile("md-nested-quotes.md", (">" * 5000 + " deep\n").encode()),
        BadFile("md-nested-lists.md", "".join("  " * i + "- item\n" for i in range(3000)).encode()),
        BadFile("md-nul-bytes.md", b"# Title\x00\n\n" + b"\x00" * 1000 + FACT.encode()),
        BadFile("md-long-line.md", b"x" * 2_000_000),
        BadFile("md-brackets.md", b"[" * 50_000 + b"](" * 50_000),
        BadFile("html-nested.html", b"<div>" * 20_000 + b"deep" + b"</div>" * 20_000),
        BadFile("html-unclosed.html", b"<html><body><p><b><i><table><tr><td>" * 2000),
        BadFile("html-script-only.html", b"<script>" + b"alert(1);" * 10_000 + b"</script>"),
        BadFile("html-bad-charset.html", b'<meta charset="x-no-such-charset"><p>\xff\xfe\xfa text</p>'),
        BadFile("html-binary.html", rng.randbytes(3000)),
        BadFile("txt-utf16-no-bom.txt", FACT.encode("utf-16-le") * 50),
        BadFile("txt-mixed-encodings.txt",
                FACT.encode() + "Grüße".encode("cp1252") + "日本".encode("shift_jis")),
        BadFile("txt-binary.txt", bytes(range(256)) * 40),
        BadFile("txt-only-newlines.txt", b"\n" * 100_000),
    ]
    out = _spread(picked, count, first=len(picked))
    extensions = sorted(seeds)
    while len(out) < count:
        extension = extensions[len(out) % len(extensions)]
        data = seeds[extension]
        if len(out) % 2:
            keep = rng.randrange(1, len(data))
            out.append(BadFile(f"cut-{len(out)}-{keep}.{extension}", data[:keep]))
        else:
            damaged = bytearray(data)
            for _ in range(1 + rng.randrange(24)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            out.append(BadFile(f"flip-{len(out)}.{extension}", bytes(damaged)))
    return out


def _crc_broken(docx: bytes) -> bytes:
    """The DOCX with one byte of document.xml's stored data changed: its CRC no longer matches."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for item in source.infolist():
            target.writestr(item.filename, source.read(item.filename))
    data = bytearray(out.getvalue())
    at = data.find(b"Harbour report")
    if at > 0:
        data[at] ^= 0x20
    return bytes(data)
