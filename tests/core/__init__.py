"""Pure tests of `llminst._core`: bytes, text and specs in, values out; no process, no clock."""
