# Benchmarks, resilience and security checks; each starts its own throwaway PostgreSQL (bench/pg.sh) and uses .venv.
# None asserts a speed: `bench` writes bench/RESULTS.md, `resilience` prints counts and PASS or FAIL,
# `security` replays the attacks of issue 12 against running servers and prints PASS or FAIL for each.

PYTHON := .venv/bin/python

.PHONY: bench resilience security

bench:
	bench/pg.sh $(PYTHON) -m bench.run

resilience:
	bench/pg.sh $(PYTHON) -m bench.resilience

security:
	bench/pg.sh $(PYTHON) -m bench.security
