"""Benchmarks, apart from the product; `duckmesh bench` loads scripts/benchmarks/cli.py when it runs."""
