"""Benchmarks: scripts that print figures, measured in one run. Never timed assertions in tests."""
