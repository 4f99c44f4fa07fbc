"""A helper CLI for session-lock tests: `python turncli.py LOG GATE PROMPT`.

It appends ``start NAME`` to LOG (NAME: the prompt's last line, the turn's own message), waits
until the file GATE exists (a test releases the turns when it wants), appends ``end NAME``,
and prints PROMPT as its answer (so a later turn's answer shows the transcript it was given).
"""

import sys
import time
from pathlib import Path


def main(log: Path, gate: Path, prompt: str) -> None:
    name = prompt.strip().splitlines()[-1]
    with log.open("a") as out:
        out.write(f"start {name}\n")
    while not gate.exists():
        time.sleep(0.02)
    with log.open("a") as out:
        out.write(f"end {name}\n")
    print(prompt)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
