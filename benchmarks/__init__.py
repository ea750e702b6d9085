"""The benchmark suite of issue 5: ``python -m benchmarks`` (``--smoke`` for tiny sizes).

Every scenario runs in its own child process (``python -m benchmarks.worker NAME``)
with one BLAS thread, so that one scenario's memory or threads never colour another's.
Each child times every available system side by side on identical data and prints
its rows as JSON; ``__main__`` gathers them into one markdown table.

Files: ``harness.py`` (timing, child processes, peers), ``nielsen.py`` (one SGD step
of a sigmoid network, per system), ``chain.py`` (the relu chain of scenarios 4 and 7),
``finite_differences.py`` (scenario 8), ``scenarios.py`` (the eight scenarios),
``table.py`` (markdown).
"""
