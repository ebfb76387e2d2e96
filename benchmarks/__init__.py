"""Benchmark of the API key hot path (issue 4): `scripts/bench` or `python -m benchmarks.run`."""
