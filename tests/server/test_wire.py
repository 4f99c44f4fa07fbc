"""The raw wire's decoding (llminst.wire): every line is a message or a rejection with the error
the JSON-RPC spec gives it; no line makes the decoder raise.

Regression (issue 10): a request line that was not JSON, or whose JSON held a lone surrogate, got
no answer at all (the SDK dropped it), so the client waited forever; bytes that are not UTF-8
were silently replaced with U+FFFD, changing the prompt. The same lines through a real
`llminst serve`, over stdio and HTTP: tests/serve/test_wire.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCNotification, JSONRPCRequest

from llminst.wire import Rejection, decode_message

from ..support.wire import BAD_LINES, call_line


@pytest.mark.parametrize(("line", "code", "request_id", "words"), BAD_LINES)
def test_a_bad_line_is_rejected_with_the_spec_error(
    line: bytes, code: int, request_id: int | str | None, words: str
) -> None:
    """Each bad line maps to the JSON-RPC code the spec gives, the id when one is known, and a
    message starting with the spec's name for the error."""
    rejection = decode_message(line)
    assert isinstance(rejection, Rejection), rejection
    assert (rejection.code, rejection.request_id) == (code, request_id)
    assert words in rejection.message, rejection.message
    assert rejection.message.split(":")[0] in {"Parse error", "Invalid Request", "Invalid params"}
    response = rejection.response().message.model_dump(by_alias=True, exclude_unset=True)
    assert response["id"] == request_id and response["error"]["code"] == code


def test_valid_lines_decode_as_the_sdk_would() -> None:
    """A valid request, a notification, non-ASCII text and a surrogate pair pass unchanged."""
    request = decode_message(call_line(1, "héllo \U0001f600"))
    escaped = decode_message(
        call_line(2, "\U0001f600")
    )  # json.dumps escapes it as a surrogate pair
    notice = decode_message(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
    with_id_inside = decode_message(
        b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"id"}}\n'
    )
    assert isinstance(request, SessionMessage) and isinstance(request.message, JSONRPCRequest)
    assert request.message.params["arguments"]["prompt"] == "héllo \U0001f600"  # type: ignore[index]
    assert isinstance(escaped, SessionMessage)
    assert escaped.message.params["arguments"]["prompt"] == "\U0001f600"  # type: ignore[union-attr,index]
    assert isinstance(notice, SessionMessage) and isinstance(notice.message, JSONRPCNotification)
    assert isinstance(with_id_inside, SessionMessage)


@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_any_line_decodes_or_is_rejected(line: bytes) -> None:
    """No line makes the decoder raise: it is a message or a rejection that can be sent."""
    decoded = decode_message(line)
    if isinstance(decoded, Rejection):
        decoded.response().message.model_dump_json(by_alias=True, exclude_unset=True)
    else:
        assert isinstance(decoded, SessionMessage)
