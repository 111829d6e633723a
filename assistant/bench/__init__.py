"""Benchmarks: scripts that print numbers as ratios against a baseline measured in the same run."""
