"""Real processes through the library (`open_supervisor`): output, streaming, deadlines, kills,
retries, limits, probes, status and version commands."""
