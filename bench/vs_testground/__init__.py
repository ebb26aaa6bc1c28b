"""Parts of bench/vs_testground.py: the Go builds, the processes it owns, the sync load, the
plan runs on both tools, and the table. The Go load generator's sources are in ``loadgen/``.
"""
