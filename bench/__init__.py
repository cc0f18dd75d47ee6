"""Benchmarks, scale curves and resilience checks:
`make bench` writes bench/RESULTS.md, `make resilience` prints PASS or FAIL."""
