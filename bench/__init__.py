"""Benchmarks. `python -m bench` measures the declare and timer table from outside, every
piece its own process (bench/__main__.py says how); the other scripts here measure one
feature each, in one process (`python bench/<name>.py`)."""
