"""Images as the assistant takes them in: safe decoding, content hashes, reading order of OCR lines.

Plain Python plus Pillow (no Qt, no ML library), so the window, the CLI and the engine process can all
use it. OCR itself lives in `assistant/engines/ocr.py`.
"""
