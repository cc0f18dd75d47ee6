# Benchmarks, resilience and security checks; each starts its own throwaway PostgreSQL (bench/pg.sh) and uses .venv.
# None asserts a speed: `bench` writes bench/RESULTS.md (about 15 minutes; `bench-quick`, a few minutes, writes
# bench/out/RESULTS-quick.md instead, to try the harness), `resilience` prints counts and PASS or FAIL,
# `security` replays the attacks of issue 12 against running servers and prints PASS or FAIL for each;
# `restore-drill` loads a database, pg_dumps and drops it, restores it into a fresh one, then verifies the
# audit chain and its signed checkpoints and compares every table's row count, and prints PASS or FAIL;
# `bench-checkpoints` prints what signed checkpoints cost against verification without them (a few minutes);
# `bench-replay` prints one what-if replay of 100,000 decisions: decisions a second, the event loop's longest hold.
# `sbom` writes the CycloneDX SBOM of what the image ships (requirements.lock and the service) to
# dist/caldicott-sbom.cdx.json, offline; its VEX statement is supply-chain/vex.openvex.json.

PYTHON := .venv/bin/python

.PHONY: bench bench-quick bench-checkpoints bench-replay resilience security restore-drill sbom

bench:
	bench/pg.sh $(PYTHON) -m bench.run

bench-quick:
	bench/pg.sh $(PYTHON) -m bench.run --quick

bench-checkpoints:
	bench/pg.sh $(PYTHON) -m bench.checkpoints

bench-replay:
	bench/pg.sh $(PYTHON) -m bench.replay

resilience:
	bench/pg.sh $(PYTHON) -m bench.resilience

security:
	bench/pg.sh $(PYTHON) -m bench.security

restore-drill:
	bench/pg.sh $(PYTHON) -m bench.restore_drill

sbom:
	$(PYTHON) supply-chain/sbom.py --out dist/caldicott-sbom.cdx.json
