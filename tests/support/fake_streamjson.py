"""A stand-in claude that speaks its stream-json input and output, for warm-process tests and
the benchmark: `python fake_streamjson.py [--include-partial-messages] [FLAGS...]`.

It spends $FAKE_STREAMJSON_START_S seconds (default 0) "starting" before it reads stdin, as the
real CLI spends ~0.5-0.9 s before it can answer, then reads JSON lines: an ``initialize`` control
request gets its ``control_response``; a ``user`` message is answered like claude answers it
(``system`` init, with --include-partial-messages a ``stream_event`` text delta per word, the
``assistant`` message, the ``result`` line whose text is ``Echo: PROMPT``). Its ``session_id``
is ``fake-PID``, so a test sees which process answered. At EOF on stdin it exits 0.

A prompt ``[[exit N]]`` makes it print an error result and exit N; ``[[hang]]`` never answers.
Its PID goes to $FAKECLI_PIDFILE (one per line), its argv and start time (epoch seconds, when
the starting was done) to stderr.
"""

import json
import os
import sys
import time


def emit(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def answer(prompt: str, partial: bool, session: str) -> None:
    if prompt.startswith("[[exit "):
        code = int(prompt[len("[[exit ") : prompt.index("]]")])
        emit({"type": "result", "subtype": "error_during_execution", "is_error": True,
              "result": f"failed on purpose ({code})", "session_id": session})  # fmt: skip
        sys.exit(code)
    if prompt == "[[hang]]":
        time.sleep(3600)
    text = f"Echo: {prompt}"
    emit({"type": "system", "subtype": "init", "session_id": session, "argv": sys.argv[1:]})
    message_id = f"msg_{session}"
    if partial:
        emit({"type": "stream_event", "session_id": session,
              "event": {"type": "message_start", "message": {"id": message_id}}})  # fmt: skip
        for index, word in enumerate(text.split(" ")):
            piece = word if index == 0 else " " + word
            emit({"type": "stream_event", "session_id": session, "event": {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": piece}}})  # fmt: skip
    emit({"type": "assistant", "session_id": session, "message": {
        "id": message_id, "role": "assistant", "content": [{"type": "text", "text": text}]}})  # fmt: skip
    emit({"type": "result", "subtype": "success", "is_error": False, "result": text,
          "session_id": session, "total_cost_usd": 0.0001,
          "usage": {"input_tokens": 3, "output_tokens": 2}})  # fmt: skip


def main() -> int:
    pidfile = os.environ.get("FAKECLI_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as f:
            f.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("FAKE_STREAMJSON_START_S", "0")))
    sys.stderr.write(f"fake_streamjson {sys.argv[1:]} ready at {time.time():.3f}\n")
    sys.stderr.flush()
    partial = "--include-partial-messages" in sys.argv
    session = f"fake-{os.getpid()}"
    for line in sys.stdin:
        record = json.loads(line)
        if record.get("type") == "control_request":
            request_id = record["request_id"]
            emit({"type": "control_response", "response": {
                "subtype": "success", "request_id": request_id, "response": {"commands": []}}})  # fmt: skip
        elif record.get("type") == "user":
            answer(record["message"]["content"], partial, session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
