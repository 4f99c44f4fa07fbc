"""Stand-in CLIs with controlled behaviour, so a benchmark measures the executor and not the CLI.

This module owns the stand-in programs: one tiny C program compiled at run time when a C compiler
is on PATH (it starts in about a millisecond), else the same behaviour as a ``python -I -S -c``
script. Both take a mode and its arguments, and ignore any further arguments (llminst appends
the prompt). The raw baselines and llminst always run the *same* stand-in, so ratios are fair.

Modes:

- ``ok``: write ``ok\\n`` and exit 0.
- ``stream N MS``: N times, sleep MS milliseconds, then write one line holding the time of the
  write in seconds of CLOCK_MONOTONIC (``time.monotonic()`` in Python: system-wide on Linux).
- ``sleep SECONDS``: sleep, then write ``ok\\n``.
- ``bulk BYTES``: write BYTES bytes of 64-byte text lines as fast as the pipe takes them.
- ``tree obey|ignore``: fork a child, write ``LEADER_PID CHILD_PID\\n``, then both sleep forever;
  with ``ignore`` both ignore SIGTERM (only SIGKILL ends them).
- ``claude N``: claude-style ``stream-json``: a ``system/init`` line, N ``stream_event`` text
  deltas, an ``assistant`` message and a ``result`` line.

It never measures anything itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from attrs import frozen

__all__ = ["StandIn", "build_standin"]

C_SOURCE = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void put(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w <= 0) _exit(1);
        s += w; n -= (size_t)w;
    }
}
static void puts1(const char *s) { put(s, strlen(s)); }
static void nap(double seconds) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {}
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "ok";
    char line[256];
    if (!strcmp(mode, "ok")) { puts1("ok\n"); return 0; }
    if (!strcmp(mode, "stream")) {
        long n = atol(argv[2]); double ms = atof(argv[3]);
        for (long i = 0; i < n; i++) {
            struct timespec now;
            nap(ms / 1000.0);
            clock_gettime(CLOCK_MONOTONIC, &now);
            int len = snprintf(line, sizeof line, "%ld.%09ld\n", (long)now.tv_sec, now.tv_nsec);
            put(line, (size_t)len);
        }
        return 0;
    }
    if (!strcmp(mode, "sleep")) { nap(atof(argv[2])); puts1("ok\n"); return 0; }
    if (!strcmp(mode, "bulk")) {
        static char buf[65536];
        long long left = atoll(argv[2]);
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (i % 64 == 63) ? '\n' : 'x';
        while (left > 0) {
            size_t n = left < (long long)sizeof buf ? (size_t)left : sizeof buf;
            put(buf, n); left -= (long long)n;
        }
        return 0;
    }
    if (!strcmp(mode, "tree")) {
        if (!strcmp(argv[2], "ignore")) signal(SIGTERM, SIG_IGN);
        pid_t child = fork();
        if (child == 0) { for (;;) pause(); }
        int len = snprintf(line, sizeof line, "%d %d\n", (int)getpid(), (int)child);
        put(line, (size_t)len);
        for (;;) pause();
    }
    if (!strcmp(mode, "claude")) {
        long n = atol(argv[2]);
        puts1("{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"bench\",\"tools\":[]}\n");
        puts1("{\"type\":\"stream_event\",\"event\":{\"type\":\"message_start\","
              "\"message\":{\"id\":\"msg_bench\"}},\"session_id\":\"bench\"}\n");
        for (long i = 0; i < n; i++)
            puts1("{\"type\":\"stream_event\",\"event\":{\"type\":\"content_block_delta\","
                  "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"word \"}},"
                  "\"session_id\":\"bench\"}\n");
        puts1("{\"type\":\"assistant\",\"message\":{\"id\":\"msg_bench\",\"role\":\"assistant\","
              "\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]},\"session_id\":\"bench\"}\n");
        puts1("{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"ok\","
              "\"session_id\":\"bench\",\"total_cost_usd\":0.0,\"num_turns\":1,"
              "\"duration_ms\":1,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}\n");
        return 0;
    }
    fprintf(stderr, "standin: unknown mode %s\n", mode);
    return 2;
}
"""

PY_SOURCE = r"""
import os, signal, sys, time
mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
out = sys.stdout.buffer
def put(data):
    out.write(data); out.flush()
if mode == "ok":
    put(b"ok\n")
elif mode == "stream":
    n, ms = int(sys.argv[2]), float(sys.argv[3])
    for _ in range(n):
        time.sleep(ms / 1000)
        put(b"%.9f\n" % time.monotonic())
elif mode == "sleep":
    time.sleep(float(sys.argv[2])); put(b"ok\n")
elif mode == "bulk":
    left = int(sys.argv[2]); block = (b"x" * 63 + b"\n") * 1024
    while left > 0:
        piece = block[:left]; out.write(piece); left -= len(piece)
    out.flush()
elif mode == "tree":
    if sys.argv[2] == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = os.fork()
    if child == 0:
        while True: signal.pause()
    put(b"%d %d\n" % (os.getpid(), child))
    while True: signal.pause()
elif mode == "claude":
    n = int(sys.argv[2]); sid = '"session_id":"bench"'
    lines = ['{"type":"system","subtype":"init",%s,"tools":[]}' % sid,
             '{"type":"stream_event","event":{"type":"message_start","message":{"id":"msg_bench"}},%s}' % sid]
    lines += ['{"type":"stream_event","event":{"type":"content_block_delta","index":0,'
              '"delta":{"type":"text_delta","text":"word "}},%s}' % sid] * n
    lines += ['{"type":"assistant","message":{"id":"msg_bench","role":"assistant",'
              '"content":[{"type":"text","text":"ok"}]},%s}' % sid,
              '{"type":"result","subtype":"success","is_error":false,"result":"ok",%s,'
              '"total_cost_usd":0.0,"num_turns":1,"duration_ms":1,'
              '"usage":{"input_tokens":1,"output_tokens":1}}' % sid]
    put(("\n".join(lines) + "\n").encode())
else:
    sys.stderr.write("standin: unknown mode %s\n" % mode); sys.exit(2)
"""


@frozen
class StandIn:
    """A built stand-in: `argv(mode, *args)` is the command line for one behaviour."""

    prefix: tuple[str, ...]
    kind: str  # "c (cc)" or "python -I -S"

    def argv(self, mode: str, *args: object) -> list[str]:
        return [*self.prefix, mode, *(str(a) for a in args)]


def build_standin(folder: Path, *, prefer: str = "c") -> StandIn:
    """Compile the C stand-in into `folder` if a compiler is available, else use Python.

    Args:
        folder: where the C source and binary go.
        prefer: ``c`` (default) or ``python`` to skip the compiler (the harness passes
            ``$LLMINST_BENCH_STANDIN``).

    Returns:
        the stand-in, with `kind` saying which one it is (reported in the results' header).
    """
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is not None and prefer != "python":
        source = folder / "standin.c"
        binary = folder / "standin"
        source.write_text(C_SOURCE)
        done = subprocess.run(
            [compiler, "-O2", "-o", str(binary), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return StandIn(prefix=(str(binary),), kind=f"C program (compiled with {compiler})")
    return StandIn(prefix=(sys.executable, "-I", "-S", "-c", PY_SOURCE), kind="python -I -S -c")
