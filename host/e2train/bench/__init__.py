"""Benchmarks that write their results under measurements/ (never part of the unit tests)."""
