"""``hitless demo-app``: the test workload, an HTTP server with knobs for probes, shutdown and latency.

It runs as PID 1 of a container that benchmarks start by the dozen, so this package imports only the
standard library and h11, and nothing of the hitless engine. See docs/demo-app.md.
"""
