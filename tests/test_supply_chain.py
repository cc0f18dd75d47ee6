"""The supply-chain record: the SBOM `make sbom` builds, and the VEX statement that python-jose's optional
backends (`ecdsa`, `rsa`) are shipped but never run, proved in a fresh process that verifies real tokens."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from tests.test_auth import EC_KEY, RSA_KEY, claims, jwks, sign
from tests.test_lock import RUNTIME_LOCK, entries, pinned

REPO = Path(__file__).resolve().parents[1]
VEX = REPO / "supply-chain" / "vex.openvex.json"
UNUSED_BACKENDS = ("ecdsa", "rsa")

# Run in a fresh interpreter: the app is built, then tokens are verified by the app's own verifier; it prints which
# of the modules named in argv[2] were imported, before and after importing them itself (so the check can fail).
VERIFY_IN_A_FRESH_PROCESS = """
import json, sys
from app.main import create_app
from app.platform.config import Settings

settings = Settings(_env_file=None, jwks_file=sys.argv[1], database_url="sqlite+aiosqlite:///" + sys.argv[3])
app = create_app(settings)
subjects = [app.state.wiring.verifier.verify(token).sub for token in json.loads(sys.stdin.read())]
names = sys.argv[2].split(",")
imported = [name for name in names if name in sys.modules]
for name in names:
    __import__(name)
print(json.dumps({"subjects": subjects, "imported": imported, "then": [n for n in names if n in sys.modules]}))
"""


@pytest.fixture(scope="module")
def sbom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The SBOM as `make sbom` builds it."""
    out = tmp_path_factory.mktemp("sbom") / "sbom.cdx.json"
    subprocess.run([sys.executable, str(REPO / "supply-chain" / "sbom.py"), "--out", str(out)], check=True)
    return json.loads(out.read_text())


def components(bom: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {canonicalize_name(item["name"]): item for item in bom["components"]}


def test_the_sbom_lists_every_locked_runtime_package_with_its_version_purl_and_hashes(sbom: dict[str, Any]) -> None:
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    found = components(sbom)
    build_backend = {"setuptools"}  # uninstalled from the image after building the service
    locked = {name: entry for name, entry in entries(RUNTIME_LOCK).items() if name not in build_backend}
    assert set(found) == set(locked), "the SBOM's components are not requirements.lock's runtime packages"
    for name, entry in locked.items():
        component = found[name]
        version = pinned(entry)
        assert component["version"] == version, name
        assert component["purl"] == f"pkg:pypi/{name}@{version}", name
        hashes = {digest["content"] for ref in component["externalReferences"] for digest in ref.get("hashes", [])}
        assert hashes == {value.removeprefix("sha256:") for value in entry[1]}, name
    # What the image ships is the service: its name and version are pyproject.toml's.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    root = sbom["metadata"]["component"]
    assert (root["name"], root["version"], root["type"]) == (project["name"], project["version"], "application")


def test_the_sbom_leaves_out_the_test_extras(sbom: dict[str, Any]) -> None:
    found = components(sbom)
    assert not {"pytest", "schemathesis", "ruff", "cyclonedx-bom", "setuptools"} & set(found)


def test_the_vex_statement_names_the_shipped_versions_of_what_it_covers(sbom: dict[str, Any]) -> None:
    vex = json.loads(VEX.read_text())
    purls = {item["purl"] for item in sbom["components"]}
    version = sbom["metadata"]["component"]["version"]
    covered = set()
    for statement in vex["statements"]:
        assert statement["status"] == "not_affected"
        assert statement["justification"] == "vulnerable_code_not_in_execute_path"
        for product in statement["products"]:
            assert product["@id"] == f"pkg:pypi/caldicott@{version}"
            for part in product["subcomponents"]:
                # A re-lock that moves ecdsa or rsa must be looked at again: the statement names exact versions.
                assert part["@id"] in purls, f"{part['@id']} is not what requirements.lock ships"
                covered.add(part["@id"].removeprefix("pkg:pypi/").split("@")[0])
    assert covered == set(UNUSED_BACKENDS)
    named = {statement["vulnerability"]["name"] for statement in vex["statements"]}
    assert {"CVE-2024-23342", "CVE-2020-25658"} <= named


def test_ecdsa_and_rsa_are_never_imported_while_the_service_verifies_tokens(tmp_path: Path) -> None:
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(jwks()))
    tokens = [
        sign(claims(sub="rs256-caller"), "RS256", key=RSA_KEY, kid="rsa-1"),
        sign(claims(sub="es256-caller"), "ES256", key=EC_KEY, kid="ec-1"),
    ]
    command = [sys.executable, "-c", VERIFY_IN_A_FRESH_PROCESS, str(keys), ",".join(UNUSED_BACKENDS)]
    command.append(str(tmp_path / "caldicott.db"))
    result = subprocess.run(command, cwd=REPO, input=json.dumps(tokens), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["subjects"] == ["rs256-caller", "es256-caller"]
    assert report["imported"] == [], f"the service imported {report['imported']}: the VEX statement is wrong"
    # Both are installed, and an import of either would have been seen.
    assert report["then"] == list(UNUSED_BACKENDS)
