"""Where the tests find things: the repository, the recorded outputs, the helper programs."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent  # the repository: where `benchmarks` and `tests` import from
FIXTURES = TESTS / "fixtures"  # the real CLIs' recorded outputs, one folder per CLI
FAKECLI = str(TESTS / "support" / "fakecli.py")  # the misbehaving helper CLI (see its modes)
MEMHOG = str(TESTS / "support" / "memhog.py")  # a helper CLI that uses a chosen amount of memory
REPLICA = str(TESTS / "support" / "replica.py")  # a replica process the tests SIGKILL
MCP_HTTP_CALL = str(TESTS / "support" / "mcp_http_call.py")  # a throwaway MCP client process
MCP_HTTP_JOB = str(TESTS / "support" / "mcp_http_job.py")  # one that starts a job
LLMINST = [sys.executable, "-m", "llminst.cli"]  # the `llminst` command of this checkout
RESUMING_CLI = str(TESTS / "support" / "resuming_cli.py")  # keeps resume state under $HOME
ROUTE_REPLICA = str(TESTS / "support" / "route_replica.py")  # host "a" of the routing tests
