"""`python -m llminst.echo`: a tiny deterministic LLM CLI, the model every machine can run.

It answers with the prompt itself, byte for byte, less its directives (the prompt comes from the
last argument, after an optional ``--``, or from stdin when there is none). When the prompt
carries llminst's JSON-mode instructions it answers with a JSON object that fills the schema
instead. Directives inside the prompt simulate what real CLIs do, so servers, tests and demos can
exercise every path; each directive, with the spaces and tabs after it, is left out of the answer
(a real CLI would not repeat its instructions either):

- ``[[echo:sleep=S]]``         wait S seconds before answering
- ``[[echo:delay=S]]``         with ``--stream``, wait S seconds between chunks (default 0.02)
- ``[[echo:rate-limit=N]]``    the first N runs of this exact prompt fail with a rate-limit message
  (``[[echo:retry-after=S]]`` adds a "retry after S seconds" hint, ``[[echo:reset-in=S]]`` a reset
  time S seconds from now); the count is kept in ``$LLMINST_ECHO_STATE_DIR`` (default: a folder in
  the temp dir)
- ``[[echo:exit=N]]``          print an error on stderr and exit with code N
- ``[[echo:stderr=TEXT]]``     also write TEXT to stderr

With ``LLMINST_ECHO_LOGGED_OUT=1`` it fails like a CLI with no credentials. It must import
nothing heavy: it is started once per call.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import time
from typing import Any

VERSION = "llminst-echo 0.1.0"
_DIRECTIVE = re.compile(r"\[\[echo:([a-z-]+)(?:=([^\]]*))?\]\]")
_DIRECTIVE_AND_BLANKS = re.compile(_DIRECTIVE.pattern + r"[ \t]*")
_JSON_MARKER = "<json_schema>"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stream = _take_flag(args, "--stream")
    if "--version" in args[:1]:
        print(VERSION)
        return 0
    if args[:1] == ["--"]:
        args = args[1:]
    if len(args) > 1:
        print(f"echo: expected at most one prompt argument, got {len(args)}", file=sys.stderr)
        return 2
    prompt = args[0] if args else sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    directives = {m.group(1): m.group(2) or "" for m in _DIRECTIVE.finditer(prompt)}

    if os.environ.get("LLMINST_ECHO_LOGGED_OUT") == "1":
        print("echo: not logged in; unset LLMINST_ECHO_LOGGED_OUT to log in", file=sys.stderr)
        return 1
    if "stderr" in directives:
        print(directives["stderr"], file=sys.stderr, flush=True)
    if "sleep" in directives:
        time.sleep(float(directives["sleep"]))
    if "rate-limit" in directives and _still_limited(prompt, int(directives["rate-limit"])):
        print(_rate_limit_message(directives), file=sys.stderr)
        return 1
    if "exit" in directives:
        print(f"echo: failing with exit code {directives['exit']} as asked", file=sys.stderr)
        return int(directives["exit"])

    text = _DIRECTIVE_AND_BLANKS.sub("", prompt)
    answer = _json_answer(text) if _JSON_MARKER in text else text
    _write(answer, stream=stream, delay=float(directives.get("delay") or 0.02))
    return 0


def _take_flag(args: list[str], flag: str) -> bool:
    # Flags come before the "--" separator; anything after it is the prompt.
    end = args.index("--") if "--" in args else len(args)
    if flag in args[:end]:
        args.remove(flag)
        return True
    return False


def _write(answer: str, *, stream: bool, delay: float) -> None:
    out = sys.stdout.buffer
    data = answer.encode("utf-8", "surrogateescape")
    if not stream:
        out.write(data)
        out.flush()
        return
    for piece in re.findall(rb"\S*\s*", data):
        if piece:
            out.write(piece)
            out.flush()
            time.sleep(delay)


def _state_path(prompt: str) -> str:
    folder = os.environ.get("LLMINST_ECHO_STATE_DIR") or os.path.join(
        tempfile.gettempdir(), f"llminst-echo-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )
    os.makedirs(folder, exist_ok=True)
    digest = hashlib.sha256(prompt.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(folder, digest)


def _still_limited(prompt: str, limit: int) -> bool:
    path = _state_path(prompt)
    try:
        with open(path) as f:
            count = int(f.read() or 0)
    except FileNotFoundError:
        count = 0
    with open(path, "w") as f:
        f.write(str(count + 1))
    return count < limit


def _rate_limit_message(directives: dict[str, str]) -> str:
    message = "echo: Error 429: rate limit exceeded."
    if "retry-after" in directives:
        message += f" Please retry after {directives['retry-after']} seconds."
    if "reset-in" in directives:
        reset = time.time() + float(directives["reset-in"])
        message += (
            f" Usage limit resets at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(reset))}."
        )
    return message


def _json_answer(prompt: str) -> str:
    import json

    from ._core.jsonmode import schema_from_prompt

    schema = schema_from_prompt(prompt) or {}
    question = prompt.split(_JSON_MARKER)[0].strip()
    question = question.rsplit("\n\n", 1)[0].strip() or question
    return json.dumps(_fill(schema, question), ensure_ascii=False)


def _fill(schema: Any, question: str, name: str = "") -> Any:
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0] if kind else "object"
    if kind == "object":
        props = schema.get("properties", {})
        return {key: _fill(sub, question, key) for key, sub in props.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return max(0, schema.get("minimum", 0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if name == "question":
        return question
    if name == "answer":
        return f"echo: {question}"
    return "echo"


if __name__ == "__main__":
    sys.exit(main())
