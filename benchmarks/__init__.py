"""Speed and memory benchmarks (``make bench``). Never run by the test suite.

Data are generated under ``bench-data/`` (git-ignored) by the sample generator and reused
while the generator's parameters stay the same.
"""
