"""Benchmarks of MLOS: latency and throughput per operation, beside raw framework calls.

Run `mlos bench` (or `python -m mlos.bench`); results print as a table and are written as JSON.
"""
