"""Benchmarks (not tests): alignterm against the raw libraries doing the same work, in one run."""
