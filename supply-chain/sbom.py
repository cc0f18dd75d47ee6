#!/usr/bin/env python3
"""Writes the CycloneDX SBOM (JSON) of what the image ships: the runtime lock, requirements.lock, and the service.

cyclonedx-py (the test extra) reads the lock file alone, so the SBOM is built offline: every locked package becomes a
component with its version, its package URL (pkg:pypi/NAME@VERSION) and the SHA-256 hashes of the files the lock
allows. The build backend (pyproject.toml's build-system.requires, setuptools) is locked so that the image builds
without fetching anything unhashed, but the Dockerfile uninstalls it after building the service, so it is left out.
The test extras are never in requirements.lock. tests/test_supply_chain.py builds it and checks every component.

Usage: supply-chain/sbom.py [--out FILE]     (make sbom: dist/caldicott-sbom.cdx.json)
"""

import argparse
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
SPEC_VERSION = "1.6"


def canonical(name: str) -> str:
    """A package name as PEP 503 compares names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def build_backend() -> set[str]:
    """The canonical names of the build backend's packages: locked, but not in the running image."""
    requires = tomllib.loads(PYPROJECT.read_text())["build-system"]["requires"]
    return {canonical(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]) for requirement in requires}


def sbom() -> dict[str, Any]:
    """The SBOM of requirements.lock and the service (the root component, from pyproject.toml)."""
    command = [sys.executable, "-W", "ignore::UserWarning", "-m", "cyclonedx_py", "requirements", str(RUNTIME_LOCK)]
    command += ["--pyproject", str(PYPROJECT), "--spec-version", SPEC_VERSION, "--output-reproducible"]
    command += ["--output-format", "JSON", "--output-file", "-"]
    bom = json.loads(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    leave_out = build_backend()
    dropped = {item["bom-ref"] for item in bom["components"] if canonical(item["name"]) in leave_out}
    bom["components"] = [item for item in bom["components"] if item["bom-ref"] not in dropped]
    # cyclonedx-py names each component by its line in the lock; its package URL is a name that survives a re-lock.
    renamed = {item["bom-ref"]: item["purl"] for item in bom["components"]}
    for item in bom["components"]:
        item["bom-ref"] = item["purl"]
    bom["dependencies"] = [
        item | {"ref": renamed.get(item["ref"], item["ref"])}
        for item in bom.get("dependencies", [])
        if item["ref"] not in dropped
    ]
    return bom


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="supply-chain/sbom.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "caldicott-sbom.cdx.json")
    args = parser.parse_args(argv)
    bom = sbom()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(bom, indent=2) + "\n")
    print(f"{args.out}: CycloneDX {SPEC_VERSION}, {len(bom['components'])} components", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
