"""Benchmarks for llminst: what the executor costs, measured against raw baselines.

``python -m benchmarks [--smoke] [--only NAME,...] [--out DIR]`` (or ``tox -e bench``) runs every
section on stand-in CLIs (`standins`) and writes ``latest.md``, ``latest.json`` and
``latest.png`` to ``benchmarks/results/`` (a smoke run: to a temporary folder). Each figure is a
median and p95 of repeated runs, shown as a ratio to a raw baseline measured in the same run;
the targets table says which goals are met. Sections (one module each): ``overhead`` (per-call,
API and MCP transports), ``latency`` (chunk to consumer), ``throughput``, ``concurrency``,
``cancellation``, ``coldstart`` (`llminst serve` to initialize), ``fanout`` (three calls at
once through compare against one) and ``peers`` (`peer_table` over `benchmarks.peers`); opt-in (``--only``): ``capacity`` (the
real CLIs' per-call CPU and memory, and calls per second for 1, 10 and 100 machines). `harness` runs them, `report` renders them; ``soak`` and
``progress_latency`` also run on their own.
"""
