"""Benchmark scripts (not tests) and the reference models they share with the tests."""
