"""A stand-in CLI that streams numbered lines, and how to compare the long texts it writes.

`STREAMER` (run as ``python -I -S -c STREAMER PROMPT``) reads the prompt ``TAG LINES
[CHUNK_LINES]`` and writes LINES lines ``"TAG 000000042\\n"`` (16 bytes with a 5-character tag),
CHUNK_LINES (default 4096) at a time with a short pause between chunks, so the output arrives in
pieces as a real model's would. `streamed_text` is what it writes.
"""

from __future__ import annotations

STREAMER = """\
import sys, time
tag, lines, *rest = sys.argv[1].split()
lines = int(lines)
chunk = int(rest[0]) if rest else 4096
out = sys.stdout.buffer
for start in range(0, lines, chunk):
    out.write("".join(f"{tag} {n:09d}\\n" for n in range(start, min(lines, start + chunk))).encode())
    out.flush()
    time.sleep(0.01)
"""


def streamed_text(tag: str, lines: int) -> str:
    """What STREAMER writes for `tag` and `lines`."""
    return "".join(f"{tag} {n:09d}\n" for n in range(lines))


def first_difference(actual: str, expected: str) -> str:
    """Where two long texts first differ, briefly."""
    if actual == expected:
        return "identical"
    at = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    return (
        f"lengths {len(actual)} vs {len(expected)}, first difference at {at}: "
        f"{actual[max(0, at - 20) : at + 20]!r} vs {expected[max(0, at - 20) : at + 20]!r}"
    )
