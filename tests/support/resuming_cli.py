"""A claude-like CLI for the routing tests, keeping its resume state on "this machine's" disk.

``python resuming_cli.py RUNS [--resume ID] -- PROMPT``: appends its PID and argv to the file RUNS (so a
test counts its runs and sees what it got), then answers like claude's stream-json with its argv
as the answer. A new session's id is ``sid-PID``, whose state it writes under
``$HOME/.fake-sessions``; ``--resume ID`` fails (as claude does) unless that state is on this
HOME's disk. A prompt starting with ``hang`` prints ``partial`` and sleeps (to be cancelled or
killed).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    runs, *argv = sys.argv[1:]
    with open(runs, "a") as log:
        log.write(json.dumps({"pid": os.getpid(), "argv": argv}) + "\n")
    state = Path(os.environ["HOME"]) / ".fake-sessions"
    if "--resume" in argv:
        session_id = argv[argv.index("--resume") + 1]
        if not (state / session_id).exists():
            print(f"No conversation found with session ID: {session_id}", file=sys.stderr)
            return 1
    else:
        session_id = f"sid-{os.getpid()}"
        state.mkdir(parents=True, exist_ok=True)
        (state / session_id).write_text("")
    if argv[-1].startswith("hang"):
        print("partial", flush=True)
        time.sleep(600)
    result = {"type": "result", "subtype": "success", "is_error": False}
    print(json.dumps({**result, "session_id": session_id, "result": json.dumps(argv)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
