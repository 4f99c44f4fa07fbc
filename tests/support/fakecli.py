"""A helper CLI for tests: `python fakecli.py MODE [ARGS...] [--] [PROMPT]`.

Each mode imitates one way a real CLI behaves (or misbehaves). Modes that start processes write
their PIDs, one per line, to the file named by $FAKECLI_PIDFILE so tests can check they are gone.

  hang-tree           start a grandchild in the same group that holds stdout, print, sleep forever
  ignore-term         ignore SIGTERM, print, sleep forever
  dump                print {"argv": [...], "stdin": base64} as JSON (the prompt as received)
  pwd                 print the directory it runs in and exit 0
  flood N             write N bytes of "x" as fast as possible
  bytes HEX           write the bytes HEX (invalid UTF-8, NULs, ...)
  claude FILE         print the lines of FILE (a stream-json transcript) and exit 0
  say TEXT            print TEXT and exit 0
  fail CODE TEXT      print TEXT on stderr and exit CODE
  hang                print, sleep forever
  grandchildren N     start N grandchildren in the group that hold stdout, print, exit 0
  setsid-child        start a grandchild that calls setsid and holds stdout, print, sleep forever
  double-fork         a child starts a setsid grandchild and exits at once; print, sleep forever
  close-stdout        print, close stdout, sleep forever
  line N [claude]     write one N-byte line of text, or one claude stream-json result line
  die SIGNAL          print, then kill itself with SIGNAL (SEGV, KILL, ...)
  gated FILE [exit]   print "before", wait until FILE exists, print "after", then sleep
                      forever (or exit 0 with ``exit``): output a test releases when it wants
  exit-early CODE     exit CODE at once without reading stdin (a large prompt waits there)
  script FILE         play FILE, a JSON script: {"child": true} first starts a grandchild in
                      the group; each of "lines" ({"stdout" or "stderr": TEXT, "times": N})
                      is written N times (default 1), one line each; then exit with "exit"
                      (an int), or sleep forever when it is null or missing

Grandchildren put $FAKECLI_MARKER in their command line so tests can find them by it.
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


def grandchild_argv() -> list[str]:
    marker = os.environ.get("FAKECLI_MARKER", "")
    return [sys.executable, "-c", "import time; time.sleep(300)", "fakecli-grandchild", marker]


def double_fork() -> None:
    child = os.fork()
    if child == 0:
        grandchild = os.fork()
        if grandchild == 0:
            os.setsid()
            argv = grandchild_argv()
            os.execv(argv[0], argv)
        record_pid(grandchild)
        os._exit(0)
    os.waitpid(child, 0)


def play(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        script = json.load(f)
    if script.get("child"):
        record_pid(subprocess.Popen(grandchild_argv()).pid)
    for step in script.get("lines", []):
        stream = sys.stdout if "stdout" in step else sys.stderr
        text = step.get("stdout", step.get("stderr", ""))
        for _ in range(step.get("times", 1)):
            stream.write(text + "\n")
            stream.flush()
    if script.get("exit") is None:
        time.sleep(300)
    return int(script.get("exit") or 0)


def gated(path: str, *, exit_after: bool) -> int:
    sys.stdout.write("before\n")
    sys.stdout.flush()
    while not os.path.exists(path):
        time.sleep(0.02)
    sys.stdout.write("after\n")
    sys.stdout.flush()
    if not exit_after:
        time.sleep(300)
    return 0


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
    elif mode == "pwd":
        print(os.getcwd())
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
    elif mode in ("hang", "grandchildren", "setsid-child", "double-fork", "close-stdout"):
        if mode == "grandchildren":
            for _ in range(int(args[0])):
                record_pid(subprocess.Popen(grandchild_argv()).pid)
        elif mode == "setsid-child":
            record_pid(subprocess.Popen(grandchild_argv(), start_new_session=True).pid)
        elif mode == "double-fork":
            double_fork()
        out.write(b"started\n")
        out.flush()
        if mode == "grandchildren":
            return 0
        if mode == "close-stdout":
            sys.stdout.close()
            os.close(1)
        time.sleep(300)
    elif mode == "line":
        size = int(args[0])
        if args[1:2] == ["claude"]:
            result = {"type": "result", "subtype": "success", "is_error": False, "result": ""}
            head, tail = json.dumps(result).rsplit('""', 1)
            out.write(head.encode() + b'"' + b"y" * size + b'"' + tail.encode() + b"\n")
        else:
            out.write(b"y" * size + b"\n")
        out.flush()
    elif mode == "die":
        out.write(b"about to die\n")
        out.flush()
        os.kill(os.getpid(), getattr(signal, "SIG" + args[0]))
        time.sleep(10)
    elif mode == "exit-early":
        sys.stderr.write("exiting before reading stdin\n")
        return int(args[0])
    elif mode == "script":
        return play(args[0])
    elif mode == "gated":
        return gated(args[0], exit_after=args[1:2] == ["exit"])
    elif mode == "fail":
        sys.stderr.write(args[1] + "\n")
        return int(args[0])
    else:
        sys.stderr.write(f"fakecli: unknown mode {mode}\n")
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main())
