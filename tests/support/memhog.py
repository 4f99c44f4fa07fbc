"""A helper CLI that uses a chosen amount of memory: `python memhog.py MODE ARGS...`.

  hold MB SECONDS DIR   write DIR/pids/PID, touch MB MiB page by page, mark itself running
                        (DIR/running/PID), watch for SECONDS how many marks exist at once and
                        write the most it saw to DIR/seen/PID, unmark itself, print "held", exit 0
  grow STEP_MB MAX_MB   print "growing", then touch STEP_MB more MiB every 20 ms up to MAX_MB
                        (a safety cap: a working limit stops it long before), then sleep forever

Memory is a bytearray written one byte per 4 KiB page, so it is resident, not just reserved.
"""

import os
import sys
import time

PAGE = 4096
MIB = 1024 * 1024


def touched(mb: int) -> bytearray:
    block = bytearray(mb * MIB)
    for offset in range(0, len(block), PAGE):
        block[offset] = 1
    return block


def hold(mb: int, seconds: float, folder: str) -> int:
    pid = str(os.getpid())
    for sub in ("pids", "running", "seen"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    open(os.path.join(folder, "pids", pid), "w").close()
    block = touched(mb)
    mark = os.path.join(folder, "running", pid)
    open(mark, "w").close()
    most = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        most = max(most, len(os.listdir(os.path.join(folder, "running"))))
        time.sleep(0.01)
    with open(os.path.join(folder, "seen", pid), "w") as f:
        f.write(str(most))
    os.unlink(mark)
    print("held", len(block) // MIB, flush=True)
    return 0


def grow(step_mb: int, max_mb: int) -> int:
    print("growing", flush=True)
    blocks = []
    while len(blocks) * step_mb < max_mb:
        blocks.append(touched(step_mb))
        time.sleep(0.02)
    while True:
        time.sleep(60)


def main() -> int:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "hold":
        return hold(int(args[0]), float(args[1]), args[2])
    if mode == "grow":
        return grow(int(args[0]), int(args[1]))
    print(f"unknown mode {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
