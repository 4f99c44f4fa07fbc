"""Benchmarks for llminst (see README: each script states what it measures and how to run it)."""
