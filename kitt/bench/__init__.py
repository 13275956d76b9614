"""Benchmarks: the load generator, its metrics, suites, and the figures they produce."""
