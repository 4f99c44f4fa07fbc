"""Helpers the tests share; each is written once, here, and imported from here.

paths (where things are, the `llminst` command) · models (model tables, a fast backoff) ·
config (config files via tomli_w) · procs (the one /proc reader; PIDs; stopping servers) ·
tools (the tools' contract, their text, an in-memory client) · serve (a real `llminst serve`
over HTTP and raw stdio) · mcp_pipes (an SDK client over a process the test started) ·
mcp_http_call, mcp_http_job (throwaway client processes) · progress (progress notifications, in order) ·
versions (status once versions settle) · clocks (virtual clocks: a real-time
limit, the next deadline) · load (a machine with busy cores) · report (figure
lines) · fakecli (the misbehaving helper CLI) · scripts (what real CLIs printed when they failed,
for fakecli) · faults (fault table, nothing-left checks) · signals (signalling commands) ·
canaries (fake keys for the leak tests) · status (reading the status table) · wire (bad
JSON-RPC lines) · decoding (feeding decoders) · recordings (the real CLIs' recorded outputs) ·
streamer (a streaming stand-in) · fake_ollama (the ollama stand-in) · ts_client.mjs (the
TypeScript SDK client) · imports (what a module imports, for the walls) · readme (README's
generated blocks).

The scripts here (fakecli, mcp_http_call, fake_ollama) run with this folder first on sys.path:
a module here must not be named like a standard or installed module (tests/test_layers.py
checks), or it would replace that module in them.
"""
