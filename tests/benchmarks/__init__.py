"""The benchmarks themselves: smoke runs of every section, the peers, the soak and its verdict."""
