"""Benchmarks of MLOS: latency and throughput per operation, beside raw framework calls.

Run `mlos bench` (or `python -m mlos.bench`); results print as a table and are written as JSON.
The focused benchmarks are modules run the same way: `python -m mlos.bench.plugin_overhead`,
`mlos.bench.floors`, `mlos.bench.cpu_per_call` and `mlos.bench.shared_memory`
(docs/benchmarks.md says what each measures).
"""
