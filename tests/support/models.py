"""Model tables for tests: the built-in models plus a test's own specs, and a fast backoff."""

from __future__ import annotations

from llminst import BUILTIN_MODELS, BackoffPolicy, ModelSpec

# Retries in tests that are not about the wait: short, and without jitter.
FAST = BackoffPolicy(initial_s=0.01, maximum_s=0.05, jitter_s=0.0)


def models_with(*specs: ModelSpec) -> dict[str, ModelSpec]:
    """The built-in models, with `specs` added (or replacing a built-in of the same name)."""
    return {**BUILTIN_MODELS, **{s.name: s for s in specs}}
