"""A helper CLI for tests: `python fakecli.py MODE [ARGS...] [--] [PROMPT]`.

Each mode imitates one way a real CLI behaves (or misbehaves). Modes that start processes write
their PIDs, one per line, to the file named by $FAKECLI_PIDFILE so tests can check they are gone.

  hang-tree           start a grandchild in the same group that holds stdout, print, sleep forever
  ignore-term         ignore SIGTERM, print, sleep forever
  dump                print {"argv": [...], "stdin": base64} as JSON (the prompt as received)
  flood N             write N bytes of "x" as fast as possible
  bytes HEX           write the bytes HEX (invalid UTF-8, NULs, ...)
  claude FILE         print the lines of FILE (a stream-json transcript) and exit 0
  say TEXT            print TEXT and exit 0
  fail CODE TEXT      print TEXT on stderr and exit CODE
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time


def record_pid(pid: int) -> None:
    path = os.environ.get("FAKECLI_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{pid}\n")


def main() -> int:
    mode, args = sys.argv[1], sys.argv[2:]
    record_pid(os.getpid())
    out = sys.stdout.buffer
    if mode == "hang-tree":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        record_pid(child.pid)
        out.write(b"started\n")
        out.flush()
        time.sleep(300)
    elif mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        out.write(b"ignoring SIGTERM\n")
        out.flush()
        time.sleep(300)
    elif mode == "dump":
        if args[:1] == ["--"]:
            args = args[1:]
        stdin = b"" if sys.stdin is None or sys.stdin.closed else sys.stdin.buffer.read()
        json.dump({"argv": args, "stdin": base64.b64encode(stdin).decode()}, sys.stdout)
    elif mode == "flood":
        remaining = int(args[0])
        block = b"x" * 65536
        while remaining > 0:
            n = min(remaining, len(block))
            out.write(block[:n])
            remaining -= n
        out.flush()
    elif mode == "bytes":
        out.write(bytes.fromhex(args[0]))
        out.flush()
    elif mode == "claude":
        with open(args[0], "rb") as f:
            for line in f:
                out.write(line)
                out.flush()
    elif mode == "say":
        out.write(args[0].encode())
    elif mode == "fail":
        sys.stderr.write(args[1] + "\n")
        return int(args[0])
    else:
        sys.stderr.write(f"fakecli: unknown mode {mode}\n")
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main())
