"""llminst's tests, one folder per layer (the walls themselves: test_layers.py for the core,
the supervisor and the server, test_shell_walls.py for the command line, transports and demo).

- core/        pure `_core` rules: no process, no clock
- supervisor/  real processes through the library (`open_supervisor`)
- server/      the MCP tools through the SDK's in-memory client, and the raw wire's decoding
- serve/       a real `llminst serve` over stdio and HTTP: lifecycle, signals, load, faults
- command/     the other llminst programs as processes (run, models, status, demo, echo)
- clis/        the real CLIs against fake APIs (``-m realcli``), their recorded outputs, stand-ins
- benchmarks/  the benchmark scripts, the peers and the soak
- support/     helpers every folder shares (never a test); realcli/ the fake APIs and installer;
  fixtures/ the real CLIs' recorded outputs
- test_readme.py  README.md says what the code does
"""
