"""Benchmarks: speed and memory, measured against the fake Discord; not part of the test suite."""
