# Benchmarks and resilience checks; each starts its own throwaway PostgreSQL (bench/pg.sh) and uses .venv.
# Neither asserts a speed: `bench` writes bench/RESULTS.md, `resilience` prints counts and PASS or FAIL.

PYTHON := .venv/bin/python

.PHONY: bench resilience

bench:
	bench/pg.sh $(PYTHON) -m bench.run

resilience:
	bench/pg.sh $(PYTHON) -m bench.resilience
