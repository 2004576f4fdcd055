"""slide-bench's pytest-benchmark suite (run from a source checkout; see the README, "Timing benchmarks")."""
