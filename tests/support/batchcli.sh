#!/bin/sh
# A stand-in CLI for batch tests: `sh batchcli.sh ... PROMPT` (the prompt is the last argument).
# It appends "start PROMPT PID" to $BATCHCLI_RUNS, sleeps $BATCHCLI_SLEEP seconds, prints
# "answer to PROMPT", then appends "end PROMPT PID": the file tells how often each prompt ran
# and finished. A prompt containing FAIL writes to stderr and exits 3 instead of answering.
for prompt; do :; done
printf 'start %s %s\n' "$prompt" "$$" >> "$BATCHCLI_RUNS"
sleep "${BATCHCLI_SLEEP:-0}"
case "$prompt" in
  *FAIL*) printf 'end %s %s\n' "$prompt" "$$" >> "$BATCHCLI_RUNS"; echo "boom: $prompt" >&2; exit 3 ;;
esac
printf 'answer to %s\n' "$prompt"
printf 'end %s %s\n' "$prompt" "$$" >> "$BATCHCLI_RUNS"
