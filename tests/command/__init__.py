"""The llminst programs as real processes, but for `serve`: `llminst run`, `models`, `status`,
`demo` (answers, errors, signals, the terminal status line) and the bundled echo stand-in CLI."""
