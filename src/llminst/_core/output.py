"""What one attempt's process said, kept within bounds: `AttemptOutput`, a sans-IO record.

It is fed the CLI's stdout bytes (decoded here by the model's decoder) or decoder events, and
its stderr bytes, and it decides:

- what the answer is, within the output cap (``Settings.max_output_bytes``, in UTF-8 bytes):
  text beyond it is dropped, the attempt is marked truncated and the dropped bytes counted;
- what the caller sees while the call runs (the answer text and the CLI's retry notices, as
  `receive_stdout` returns them);
- what the CLI reported about failures (error notices, an error result, the end of stderr);
- whether the CLI is repeating a connection or credentials error (`repeated_errors`), in which
  case `stopped` says which, until the process has exited by itself.

Pure: no trio, no process, no clock. What it must never do: keep more than the cap of answer
text or more than the stderr tail, or forward text it did not keep.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs
from attrs import define

from .decoders import Decoder, make_decoder, strip_terminal_codes
from .events import ErrorNotice, Event, FinalResult, RetryNotice, TextDelta, Truncated
from .repeated_errors import RepeatedError, RepeatedErrorDetector
from .spec import ModelSpec, Settings

__all__ = ["AttemptOutput", "Forward", "clip_utf8", "utf8_size"]

Forward = TextDelta | RetryNotice
"""What an attempt's output passes on to the caller while the call runs."""


@define
class AttemptOutput:
    """Everything one attempt's process produced, bounded.

    Attributes:
        number: the attempt's number (1 for the first).
        cap_bytes: how much answer text (UTF-8 bytes) is kept.
        stderr_tail_bytes: how much of the end of stderr is kept.
        decoder: the model's output decoder.
        make_detector: makes the repeated-error detector (None: never stop early).
        detector: that detector, made when the first error it could count arrives.
        answered: answer text (not just whitespace) has arrived.
        parts: the answer text as it streamed, within the cap.
        size: the UTF-8 size of `parts`.
        final: the CLI's own final result (its text within the cap), if it gave one.
        notices: the CLI's retry and rate-limit notices.
        errors: the error messages the CLI reported in its output.
        stderr: the end of its stderr.
        truncation: why text was first dropped (``cap``, ``final``, or the decoder's reason).
        dropped_bytes: how many bytes of text were dropped in all.
        exit_code: the process's exit code once it is reaped (negative: a signal).
        stopped: the error the CLI kept repeating, once it should be stopped for it.
    """

    number: int
    cap_bytes: int
    stderr_tail_bytes: int
    decoder: Decoder
    make_detector: Callable[[], RepeatedErrorDetector] | None = None
    detector: RepeatedErrorDetector | None = None
    answered: bool = False
    parts: list[str] = attrs.Factory(list)
    size: int = 0
    final: FinalResult | None = None
    notices: list[RetryNotice] = attrs.Factory(list)
    errors: list[str] = attrs.Factory(list)
    stderr: bytearray = attrs.Factory(bytearray)
    truncation: str | None = None
    dropped_bytes: int = 0
    exit_code: int | None = None
    stopped: RepeatedError | None = None
    exited: bool = False

    @classmethod
    def for_attempt(cls, number: int, spec: ModelSpec, settings: Settings) -> AttemptOutput:
        """An empty output for attempt `number` of `spec` under `settings`."""
        make_detector = None
        if settings.stop_after_repeated_errors and (
            spec.unreachable_patterns or spec.auth_patterns
        ):
            make_detector = functools.partial(
                RepeatedErrorDetector,
                unreachable_patterns=spec.unreachable_patterns,
                auth_patterns=spec.auth_patterns,
                repeats=settings.stop_after_repeated_errors,
            )
        return cls(
            number=number,
            cap_bytes=settings.max_output_bytes,
            stderr_tail_bytes=settings.stderr_tail_bytes,
            decoder=make_decoder(spec.output_format, max_line_bytes=settings.max_output_bytes),
            make_detector=make_detector,
        )

    # -- feeding -------------------------------------------------------------------------

    def receive_stdout(self, data: bytes) -> list[Forward]:
        """Decode the next chunk of stdout; returns what to pass on to the caller."""
        return self._receive_all(self.decoder.feed(data))

    def end_of_stdout(self) -> list[Forward]:
        """Stdout ended: decode what the decoder held back (nothing once `stopped`)."""
        return [] if self.stopped is not None else self._receive_all(self.decoder.close())

    def receive_event(self, event: Event) -> Forward | None:
        """Take in one decoder event; returns what to pass on to the caller, if anything."""
        if isinstance(event, TextDelta):
            self.answered = self.answered or bool(event.text.strip())
            text = self._within_cap(event.text)
            if not text:
                return None
            self.parts.append(text)
            return event if text is event.text else TextDelta(text)
        if isinstance(event, FinalResult):
            self.final = self._final_within_cap(event)
        elif isinstance(event, RetryNotice):
            self.notices.append(event)
            return event
        elif isinstance(event, ErrorNotice):
            self.errors.append(event.message)
            if (detector := self._error_detector()) is not None:
                self._stop_if(detector.feed_event(event))
        elif isinstance(event, Truncated):
            self._truncated(event.reason, event.dropped_bytes)
        return None

    def receive_stderr(self, data: bytes) -> None:
        """Take in the next chunk of stderr (split anywhere); only its tail is kept."""
        self.stderr += data
        del self.stderr[: -self.stderr_tail_bytes]
        if (detector := self._error_detector()) is not None:
            self._stop_if(detector.feed_stderr(bytes(data)))

    def process_exited(self) -> None:
        """The process ended by itself: what it said is classified as usual, never stopped."""
        self.exited = True

    def _receive_all(self, events: list[Event]) -> list[Forward]:
        forwards = []
        for event in events:
            forward = self.receive_event(event)
            if forward is not None:
                forwards.append(forward)
        return forwards

    def _error_detector(self) -> RepeatedErrorDetector | None:
        """The detector, made at the first error it could count; none once the CLI answered
        (a CLI that answers reaches its API)."""
        if self.answered:
            return None
        if self.detector is None and self.make_detector is not None:
            self.detector = self.make_detector()
        return self.detector

    def _stop_if(self, found: RepeatedError | None) -> None:
        if found is not None and self.stopped is None and not self.exited:
            self.stopped = found

    # -- the cap ---------------------------------------------------------------------------

    @property
    def truncated(self) -> bool:
        return self.truncation is not None

    def _within_cap(self, text: str) -> str:
        """The part of `text` that still fits under the cap; the rest is counted as dropped."""
        size = utf8_size(text)
        if self.size + size <= self.cap_bytes:
            self.size += size
            return text
        kept = clip_utf8(text, self.cap_bytes - self.size)
        self.size = self.cap_bytes
        self._truncated("cap", size - utf8_size(kept))
        return kept

    def _final_within_cap(self, final: FinalResult) -> FinalResult:
        if final.text is None:
            return final
        size = utf8_size(final.text)
        if size <= self.cap_bytes:
            return final
        clipped = clip_utf8(final.text, self.cap_bytes)
        self._truncated("final", size - utf8_size(clipped))
        return attrs.evolve(final, text=clipped)

    def _truncated(self, reason: str, dropped: int) -> None:
        if self.truncation is None:
            self.truncation = reason
        self.dropped_bytes += dropped

    # -- reading ---------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The answer: the CLI's final text, or what streamed. The text of an error result is
        the error (it goes into the message), never the answer."""
        if self.final is not None and self.final.text and not self.final.is_error:
            return self.final.text
        return "".join(self.parts)

    def reported_error(self) -> tuple[str, str] | None:
        """The error the CLI reported in its output, as (where it came from, its text)."""
        if self.final is not None and self.final.is_error and self.final.text:
            return "the CLI's result line says", self.final.text
        if self.errors:
            return "the CLI's last error notice says", self.errors[-1]
        return None

    def error_text(self) -> str:
        """Every error the CLI reported (output notices, result line, stderr), not its answer."""
        reported = self.final.text if self.final is not None and self.final.is_error else None
        return "\n".join(p for p in (*self.errors, reported, self.stderr_tail()) if p)

    def failure_cause(self) -> str:
        """What the CLI gave as the cause of its failure: its result line's error when it has
        one (earlier notices and stderr may be about problems it got past), else every error."""
        if self.final is not None and self.final.is_error and self.final.text:
            return self.final.text
        return self.error_text()

    def stderr_tail(self) -> str:
        """The end of stderr as text, terminal codes removed."""
        return strip_terminal_codes(self.stderr.decode("utf-8", "replace"))

    def diagnostics(self) -> str:
        """Everything the CLI said that may explain a failure."""
        pieces = [self.text[-65536:], *self.errors, self.stderr_tail()]
        if self.final is not None and self.final.is_error and self.final.text:
            pieces.append(self.final.text)
        return "\n".join(p for p in pieces if p)


def utf8_size(text: str) -> int:
    """How many bytes `text` takes in UTF-8 (a lone surrogate counts as one ``?``)."""
    # isascii() reads a flag CPython keeps on every str: no second pass over ASCII output.
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def clip_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8."""
    return text.encode("utf-8", "replace")[: max(0, max_bytes)].decode("utf-8", "ignore")
