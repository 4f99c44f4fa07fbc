"""The real CLIs and their stand-ins: realcli runs (fake APIs from tests/realcli), the recorded
outputs' decoding and patterns, the echo and ollama stand-ins."""
