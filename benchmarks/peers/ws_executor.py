"""A WebSocket JSON-RPC command executor in the style of cc_executor: a labelled baseline peer.

This module owns the baseline server and its client. It is NOT cc_executor: it is written here,
after the design of grahama1970/cc_executor's "MCP WebSocket service" (``core/websocket_handler.py``,
``session_manager.py``, ``process_manager.py``, ``stream_handler.py``), so that the design can be
measured against llminst on the same stand-in claude without installing that project and its
services (Redis, hooks). Results from it are reported as "cc_executor-style", never as
cc_executor's own.

The design, as in the original:

- **Server**: one WebSocket endpoint on an asyncio event loop. The original serves it with
  FastAPI/uvicorn (``/ws/mcp``); here the ``websockets`` asyncio server, which is also what
  uvicorn speaks WebSocket with by default, with its default settings (permessage-deflate,
  20 s pings).
- **Session per connection**: a connection gets a session id and a `Session` entry in the
  `SessionManager` (a lock-guarded dict with a session limit); the server greets it with a
  ``connected`` notification listing its capabilities. A session runs one process at a time.
  When the connection closes, its session is removed and a process still running is terminated.
- **JSON-RPC 2.0 over text frames**: method ``execute`` with ``params.command`` (a shell command
  line) starts the command and answers ``{"status": "started", "pid", "pgid"}``; ``control``
  with ``params.type`` PAUSE / RESUME / CANCEL sends SIGSTOP / SIGCONT / SIGTERM to the process
  group. Unknown methods, bad params and unparsable frames get JSON-RPC errors (-32601, -32602,
  -32700).
- **Process**: ``asyncio.create_subprocess_shell`` in a new session (process group), stdin from
  /dev/null, stdout and stderr piped with an 8 MiB line limit, the environment with
  ``PYTHONUNBUFFERED=1``. Termination is SIGTERM to the group, a 2 s grace period, then SIGKILL.
- **Streaming**: a task per execution reads stdout and stderr line by line concurrently and sends
  each line as a ``process.output`` notification (``{"type": "stdout"|"stderr", "data": line,
  "truncated": false}``); after both streams end and the process is reaped it sends
  ``process.completed`` (``status`` completed/failed, ``pid``, ``pgid``, ``exit_code``,
  ``execution_time``).
- **Client**: connects, waits for ``connected``, sends ``execute`` and collects ``process.output``
  lines until ``process.completed``; the caller parses claude's stream-json lines for the
  ``result`` record (as cc_executor's client does).

Left out, on purpose and in the baseline's favour: loguru logging of every request and line,
Redis-backed timeout estimation and history, pre/post-execution hooks, the ``which stdbuf``
probe the original runs before every command, the removal of ANTHROPIC_API_KEY, completion
marker and token/rate-limit detection on every line, and 64 KiB chunking of long lines. Each
costs the original time per call; none changes the architecture being measured. The benchmark
client also keeps one connection for all its calls, where cc_executor's client connects per task.

Run the server with ``python -m benchmarks.peers.ws_executor --serve PORT`` (0: any free port;
it prints ``listening on ws://127.0.0.1:PORT`` once it accepts connections), and one command with
``python -m benchmarks.peers.ws_executor --url ws://127.0.0.1:PORT --execute 'echo hi'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

JSONRPC_VERSION = "2.0"
PARSE_ERROR = -32700
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
PROCESS_NOT_FOUND = -32001
SESSION_LIMIT = -32003
MAX_SESSIONS = 100
STREAM_LIMIT = 8 * 1024 * 1024
TERMINATE_GRACE_S = 2.0
CONTROL_SIGNALS = {"PAUSE": signal.SIGSTOP, "RESUME": signal.SIGCONT, "CANCEL": signal.SIGTERM}
CONTROL_STATUS = {"PAUSE": "paused", "RESUME": "resumed", "CANCEL": "canceled"}


@dataclass
class Session:
    """One connection: its WebSocket and the process it runs (one at a time)."""

    id: str
    websocket: ServerConnection
    process: asyncio.subprocess.Process | None = None
    pgid: int | None = None
    task: asyncio.Task[None] | None = None
    created: float = field(default_factory=time.time)


class SessionManager:
    """The live sessions, at most `max_sessions`, behind a lock (as the original's manager)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = asyncio.Lock()
        self._max = max_sessions

    async def create(self, session_id: str, websocket: ServerConnection) -> Session | None:
        async with self._lock:
            if len(self._sessions) >= self._max:
                return None
            session = Session(session_id, websocket)
            self._sessions[session_id] = session
            return session

    async def remove(self, session_id: str) -> Session | None:
        async with self._lock:
            return self._sessions.pop(session_id, None)


class ExecutorServer:
    """Routes each connection's JSON-RPC messages and runs its commands."""

    def __init__(self, sessions: SessionManager | None = None) -> None:
        self.sessions = sessions or SessionManager()

    async def handle_connection(self, websocket: ServerConnection) -> None:
        session = await self.sessions.create(str(uuid.uuid4()), websocket)
        if session is None:
            await _send_error(websocket, SESSION_LIMIT, "Session limit exceeded", None)
            await websocket.close(1008, "Session limit exceeded")
            return
        try:
            await _send_notification(
                websocket,
                "connected",
                {
                    "session_id": session.id,
                    "version": "1.0.0",
                    "capabilities": ["execute", "control", "stream"],
                },
            )
            async for frame in websocket:
                await self._handle_message(session, frame)
        except ConnectionClosed:
            pass
        finally:
            await self._cleanup(session)

    async def _handle_message(self, session: Session, frame: str | bytes) -> None:
        try:
            request = json.loads(frame)
        except ValueError:
            await _send_error(session.websocket, PARSE_ERROR, "Parse error", None)
            return
        if not isinstance(request, dict):
            await _send_error(session.websocket, PARSE_ERROR, "Parse error", None)
            return
        method = request.get("method")
        params = request.get("params") or {}
        msg_id = request.get("id")
        try:
            if method == "execute":
                await self._handle_execute(session, params, msg_id)
            elif method == "control":
                await self._handle_control(session, params, msg_id)
            else:
                await _send_error(
                    session.websocket, METHOD_NOT_FOUND, f"Unknown method: {method}", msg_id
                )
        except ConnectionClosed:
            raise
        except Exception as exc:
            await _send_error(session.websocket, INTERNAL_ERROR, str(exc), msg_id)

    async def _handle_execute(self, session: Session, params: Any, msg_id: Any) -> None:
        command = params.get("command") if isinstance(params, dict) else None
        if not isinstance(command, str) or not command.strip():
            await _send_error(session.websocket, INVALID_PARAMS, "params.command: a string", msg_id)
            return
        if session.process is not None and session.process.returncode is None:
            await _send_error(
                session.websocket, INVALID_PARAMS, "A process is already running", msg_id
            )
            return
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NODE_NO_READLINE": "1"}
        process = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            limit=STREAM_LIMIT,
        )
        session.process = process
        session.pgid = _pgid(process.pid)
        started = {"status": "started", "pid": process.pid, "pgid": session.pgid}
        await _send_response(session.websocket, started, msg_id)
        await _send_notification(session.websocket, "process.started", started)
        session.task = asyncio.create_task(self._stream(session, process))

    async def _stream(self, session: Session, process: asyncio.subprocess.Process) -> None:
        started = time.monotonic()
        websocket = session.websocket

        async def pump(stream: asyncio.StreamReader | None, kind: str) -> None:
            if stream is None:
                return
            while line := await stream.readline():
                data = line.decode("utf-8", errors="replace")
                params = {"type": kind, "data": data, "truncated": False}
                await _send_notification(websocket, "process.output", params)

        try:
            await asyncio.gather(pump(process.stdout, "stdout"), pump(process.stderr, "stderr"))
            exit_code = await process.wait()
            await _send_notification(
                websocket,
                "process.completed",
                {
                    "status": "completed" if exit_code == 0 else "failed",
                    "pid": process.pid,
                    "pgid": session.pgid,
                    "exit_code": exit_code,
                    "execution_time": time.monotonic() - started,
                },
            )
        except asyncio.CancelledError:
            await _terminate(process, session.pgid)
            raise
        except ConnectionClosed:
            await _terminate(process, session.pgid)
        except Exception as exc:
            with contextlib.suppress(ConnectionClosed):
                await _send_notification(websocket, "process.error", {"error": str(exc)})

    async def _handle_control(self, session: Session, params: Any, msg_id: Any) -> None:
        kind = params.get("type") if isinstance(params, dict) else None
        if kind not in CONTROL_SIGNALS:
            await _send_error(
                session.websocket, INVALID_PARAMS, "params.type: PAUSE, RESUME or CANCEL", msg_id
            )
            return
        if (
            session.process is None
            or session.pgid is None
            or session.process.returncode is not None
        ):
            await _send_error(session.websocket, PROCESS_NOT_FOUND, "No process is running", msg_id)
            return
        try:
            os.killpg(session.pgid, CONTROL_SIGNALS[kind])
        except ProcessLookupError:
            await _send_error(
                session.websocket,
                PROCESS_NOT_FOUND,
                f"Process group {session.pgid} not found",
                msg_id,
            )
            return
        status = {"status": CONTROL_STATUS[kind]}
        await _send_response(session.websocket, status, msg_id)
        await _send_notification(
            session.websocket,
            f"process.{CONTROL_STATUS[kind]}",
            {**status, "pid": session.process.pid, "pgid": session.pgid},
        )

    async def _cleanup(self, session: Session) -> None:
        await self.sessions.remove(session.id)
        if session.task is not None and not session.task.done():
            session.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await session.task
        if session.process is not None:
            await _terminate(session.process, session.pgid)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


async def _terminate(process: asyncio.subprocess.Process, pgid: int | None) -> None:
    """SIGTERM to the group, `TERMINATE_GRACE_S`, SIGKILL; the process is reaped."""
    if process.returncode is not None:
        return
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), TERMINATE_GRACE_S)
            return
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    else:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await process.wait()


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


async def _send_response(websocket: ServerConnection, result: Any, msg_id: Any) -> None:
    await websocket.send(_dumps({"jsonrpc": JSONRPC_VERSION, "result": result, "id": msg_id}))


async def _send_error(websocket: ServerConnection, code: int, message: str, msg_id: Any) -> None:
    error = {"code": code, "message": message}
    await websocket.send(_dumps({"jsonrpc": JSONRPC_VERSION, "error": error, "id": msg_id}))


async def _send_notification(websocket: ServerConnection, method: str, params: Any) -> None:
    await websocket.send(_dumps({"jsonrpc": JSONRPC_VERSION, "method": method, "params": params}))


async def run_server(port: int, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM or SIGINT; print the address once listening."""
    server = ExecutorServer()
    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set_result, None)
    async with serve(server.handle_connection, host, port) as ws_server:
        bound = next(iter(ws_server.sockets)).getsockname()[1]
        print(f"listening on ws://{host}:{bound}", flush=True)
        await stop


# --- client ---------------------------------------------------------------------------------


class ExecutionError(Exception):
    """The server answered ``execute`` with a JSON-RPC error, or reported a streaming error."""


@dataclass
class Execution:
    """What one ``execute`` produced."""

    exit_code: int | None
    stdout: list[str]
    stderr: list[str]
    pid: int | None
    first_stdout_at: float | None = None  # time.perf_counter() when the first stdout line came


class ExecutorClient:
    """One connection (one server session); `execute` runs commands one after another."""

    def __init__(self, websocket: ClientConnection, session_id: str) -> None:
        self.websocket = websocket
        self.session_id = session_id
        self._next_id = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, url: str) -> Any:
        async with connect(url) as websocket:
            greeting = json.loads(await websocket.recv())
            if greeting.get("method") != "connected":
                raise ExecutionError(f"expected a connected notification, got {greeting}")
            yield cls(websocket, greeting["params"]["session_id"])

    async def execute(self, command: str, timeout_s: int | None = None) -> Execution:
        """Run `command`; `timeout_s` is sent as ``params.timeout`` (the real cc_executor's
        stream timeout; without it, it estimates one from its Redis history)."""
        self._next_id += 1
        request_id = self._next_id
        params: dict[str, Any] = {"command": command}
        if timeout_s is not None:
            params["timeout"] = timeout_s
        request = {
            "jsonrpc": JSONRPC_VERSION,
            "method": "execute",
            "params": params,
            "id": request_id,
        }
        await self.websocket.send(_dumps(request))
        stdout: list[str] = []
        stderr: list[str] = []
        pid: int | None = None
        first_stdout_at: float | None = None
        while True:
            message = json.loads(await self.websocket.recv())
            method = message.get("method")
            if message.get("id") == request_id:
                if "error" in message:
                    raise ExecutionError(message["error"].get("message", "execute failed"))
                pid = message["result"].get("pid")
            elif method == "process.output":
                params = message["params"]
                if params.get("type") == "stdout" and first_stdout_at is None:
                    first_stdout_at = time.perf_counter()
                (stdout if params.get("type") == "stdout" else stderr).append(params["data"])
            elif method == "process.completed":
                exit_code = message["params"].get("exit_code")
                return Execution(exit_code, stdout, stderr, pid, first_stdout_at)
            elif method == "process.error":
                raise ExecutionError(message["params"].get("error", "process error"))
            elif method == "ping":  # the real cc_executor closes a session that never answers
                await self.websocket.send(_dumps({"jsonrpc": JSONRPC_VERSION, "method": "pong"}))


def claude_result_text(lines: list[str]) -> str | None:
    """The ``result`` of the last result record in claude stream-json lines, if any."""
    text: str | None = None
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("type") == "result":
            value = record.get("result")
            text = value if isinstance(value, str) else text
    return text


async def _execute_once(url: str, command: str) -> int:
    async with ExecutorClient.connect(url) as client:
        result = await client.execute(command)
    sys.stdout.write("".join(result.stdout))
    sys.stderr.write("".join(result.stderr))
    return result.exit_code if result.exit_code is not None else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, metavar="PORT", help="serve on 127.0.0.1:PORT")
    parser.add_argument("--url", help="the server to run --execute on")
    parser.add_argument("--execute", metavar="COMMAND", help="run COMMAND on the server")
    args = parser.parse_args(argv)
    if args.serve is not None:
        asyncio.run(run_server(args.serve))
        return 0
    if args.url and args.execute:
        return asyncio.run(_execute_once(args.url, args.execute))
    parser.error("give --serve PORT, or --url and --execute")
    return 2


if __name__ == "__main__":
    sys.exit(main())
