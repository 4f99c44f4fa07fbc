"""The MCP layer without a process of its own: the tools through the SDK's in-memory client,
their arguments, results and errors, and the raw wire's decoding."""
