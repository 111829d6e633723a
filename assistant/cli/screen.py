"""`--screen` for `describe` and `ask`: the whole screen, captured now, used exactly like `--image`.

The capture is a PNG in a private temporary folder (mode 0700) that is deleted when the command ends:
`ask` has the engine keep its own copy (as for any `--image`), `describe` keeps nothing. Qt is loaded
only here, and only on a machine with a display; without one the command says why and exits with 1.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
from pathlib import Path

SCREEN_NAME = "screen.png"  # what `ask`'s model is told the image is called
LABEL = "screen"  # what `describe` names it in its summary and JSON


def capture_for(args: argparse.Namespace) -> bool:
    """Capture the screen into a file the command then reads like an image it was given (`describe`:
    its IMAGE; `ask`: one more --image). False, with the reason on stderr, when it cannot be done."""
    from assistant.ui.capture.support import display_problem

    if args.command == "describe" and args.image:
        print("assistant: give an IMAGE or --screen, not both", file=sys.stderr)
        return False
    problem = display_problem()
    if problem is not None:  # before Qt is even imported
        print(f"assistant: cannot capture the screen: {problem}", file=sys.stderr)
        return False
    from assistant.ui.capture.screen_file import ScreenCaptureError, capture_screen

    folder = Path(tempfile.mkdtemp(prefix="assistant-screen-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # whatever way the command ends
    path = folder / SCREEN_NAME
    try:
        width, height = capture_screen(path)
    except ScreenCaptureError as error:
        print(f"assistant: cannot capture the screen: {error}", file=sys.stderr)
        return False
    print(f"Captured the screen ({width} x {height})", file=sys.stderr)
    if args.command == "describe":
        args.image, args.image_label = str(path), LABEL
    else:
        args.image = [*args.image, str(path)]
    return True
