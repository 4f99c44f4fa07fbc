"""Replicas: what several llminst processes sharing one Redis need from each other.

Each module owns one mechanism and takes a coredis client: `heartbeats` (every writing process
refreshes a lease key; calls of a process whose lease lapsed become ``interrupted``),
`cancelbus` (a cancel request is published at once; the process running the call listens),
`leases` (a model's concurrency limit held per account across every replica). `link` bundles
them for the supervisor (`ReplicaLink`). `health` is the degraded flag of a store whose server
cannot be reached.

What it must never do: start a process, fail or hold up a call because Redis is unreachable
(each mechanism logs and steps aside: heartbeats and sweeps retry, cancels fall back to the
store's polling, leases fall back to the local limit), or import the MCP side.
"""

from __future__ import annotations

from .health import StoreHealth, is_unavailable
from .link import ReplicaLink, ReplicaSettings

__all__ = ["ReplicaLink", "ReplicaSettings", "StoreHealth", "is_unavailable"]
