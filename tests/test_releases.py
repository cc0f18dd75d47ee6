"""Releases: one version in the package, the contract, the changelog and the image; the changelog's shape; and the
`Deprecation` and `Sunset` headers a deprecated parameter's answers carry (docs/developers/releases.md)."""

import json
import re
import tomllib
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from packaging.version import Version

from tests.support import Tokens

REPO = Path(__file__).resolve().parents[1]
RELEASE = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?$", re.MULTILINE)
# Keep a Changelog's kinds of change, and the upgrade steps a release with a breaking change gives operators.
SECTIONS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
MINIMUM_NOTICE = timedelta(days=182)  # the policy: a sunset at least six months after the deprecation is announced
LISTS_WITH_AFTER = ("/v1/organisations", "/v1/sharing-agreements")


def package_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def releases() -> list[tuple[str, str | None]]:
    """(version, date) of each release in CHANGELOG.md, newest first; Unreleased has no date."""
    return [(found["version"], found["date"]) for found in RELEASE.finditer((REPO / "CHANGELOG.md").read_text())]


def test_the_package_the_contract_the_changelog_and_the_image_name_one_version(app: FastAPI) -> None:
    version = package_version()
    Version(version)  # a valid version, and semantic: three numbers
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    # The installed metadata is what the app reads; a stale one means the virtualenv was not reinstalled.
    assert metadata.version("caldicott") == version, "run scripts/venv test: the installed package is another version"
    served = app.openapi()["info"]["version"]
    published = json.loads((REPO / "openapi" / "openapi.json").read_text())["info"]["version"]
    assert served == published == version
    newest = next(found for found, _ in releases() if found != "Unreleased")
    assert newest == version, "CHANGELOG.md's newest release is not pyproject.toml's version"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"ARG VERSION={version}\n" in dockerfile, "the image's default version label is not pyproject.toml's"


def test_the_changelog_keeps_a_changelog() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    found = releases()
    assert found[0] == ("Unreleased", None), "the first section gathers what is not released yet"
    versions = [Version(version) for version, _ in found[1:]]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    dates = [date.fromisoformat(day) for _, day in found[1:] if day is not None]
    assert len(dates) == len(versions) and dates == sorted(dates, reverse=True)
    kinds = set(re.findall(r"^### (.+)$", text, re.MULTILINE))
    assert all(kind.startswith("Upgrading from ") for kind in kinds - SECTIONS), kinds - SECTIONS


def test_the_audit_key_requirement_is_announced_with_upgrade_steps() -> None:
    text = (REPO / "CHANGELOG.md").read_text()
    current = text.split(f"## [{package_version()}]", 1)[1].split("\n## [", 1)[0]
    upgrade = current.split("### Upgrading", 1)[1].split("\n### ", 1)[0]
    for needed in ("CALDICOTT_AUDIT_SIGNING_KEY_FILE", "caldicott audit keygen", "docs/operators/keys.md"):
        assert needed in upgrade, needed
    assert (REPO / "docs" / "operators" / "keys.md").read_text().count("## The audit signing key") == 1


@pytest.mark.parametrize("path", LISTS_WITH_AFTER)
async def test_a_list_that_uses_after_is_told_it_is_deprecated_and_when_it_goes(
    client: httpx.AsyncClient, tokens: Tokens, path: str
) -> None:
    admin = tokens.admin()
    used = await client.get(path, params={"after": "A"}, headers=admin)
    assert used.status_code == 200, used.text
    deprecation = used.headers["Deprecation"]
    assert re.fullmatch(r"@\d+", deprecation), deprecation  # RFC 9745: a structured-field date
    deprecated = datetime.fromtimestamp(int(deprecation[1:]), UTC)
    sunset_text = used.headers["Sunset"]
    assert sunset_text.endswith(" GMT"), sunset_text  # RFC 8594: an HTTP-date (IMF-fixdate)
    sunset = parsedate_to_datetime(sunset_text)
    announced = datetime.fromisoformat(dict(releases())[package_version()] or "").replace(tzinfo=UTC)
    assert deprecated <= announced and sunset - announced >= MINIMUM_NOTICE
    assert re.fullmatch(r'<[^>]+>; rel="deprecation"(; type="[a-z/+]+")?', used.headers["Link"])
    documented = await client.get(used.headers["Link"].split(">")[0][1:])
    assert documented.status_code == 200
    # The same list by `cursor`, or the first page, relies on nothing deprecated.
    unused = await client.get(path, headers=admin)
    assert unused.status_code == 200
    assert not {"Deprecation", "Sunset", "Link"} & set(unused.headers)


def test_the_contract_documents_the_deprecation_headers() -> None:
    contract = json.loads((REPO / "openapi" / "openapi.json").read_text())
    for path in LISTS_WITH_AFTER:
        operation = contract["paths"][path]["get"]
        after = next(parameter for parameter in operation["parameters"] if parameter["name"] == "after")
        assert after["deprecated"] is True
        headers = operation["responses"]["200"]["headers"]
        assert {"Deprecation", "Sunset", "Link"} <= set(headers)
        assert all(header["description"] for header in headers.values())
