"""relabel's benchmark harness: detection quality, review yield, speed and memory.

Run from the repository root::

    python -m benchmarks --quick   # CI: a few minutes
    python -m benchmarks --full    # the published BENCHMARKS.md

See :mod:`benchmarks.__main__` for the options.
"""
