"""A real `llminst serve` process over stdio and streamable HTTP: transports, start-up options,
lifecycle (dropped clients, signals), load, faults through the server, the raw wire, the
Inspector."""
