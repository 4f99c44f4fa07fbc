"""The pure core of llminst: errors, results, specs, command building, decoding, JSON mode, retries,
timeouts.

Nothing below this package imports trio, starts a process, opens a file or reads a clock: every
input (environment, current time, randomness, file text) is passed in by the caller, so each piece
can be tested by feeding it values. Modules here import only each other (and libraries), never
the rest of llminst.
"""
