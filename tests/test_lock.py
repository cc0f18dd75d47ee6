"""The lock files (scripts/lock): compiled from pyproject.toml as it is now, every package pinned with its hashes.

CI runs this, so a change to pyproject.toml's dependencies without `scripts/lock` fails here, saying so,
instead of shipping an image whose dependencies are not the ones the project declares.
"""

import importlib.machinery
import importlib.util
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
RUNTIME_LOCK, TEST_LOCK = REPO / "requirements.lock", REPO / "requirements-test.lock"
HASH = re.compile(r"sha256:[0-9a-f]{64}")


def lock_script() -> ModuleType:
    """scripts/lock as a module (it has no .py suffix), for the digest it writes into each lock."""
    loader = importlib.machinery.SourceFileLoader("scripts_lock", str(REPO / "scripts" / "lock"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def entries(lock: Path) -> dict[str, tuple[Requirement, list[str]]]:
    """Each locked package by its normalised name: the requirement line and its hashes."""
    found: dict[str, tuple[Requirement, list[str]]] = {}
    joined = lock.read_text().replace("\\\n", " ")
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, *options = line.split(" --")
        assert options and all(option.startswith("hash=") for option in options), (
            f"{lock.name}: not pinned with hashes: {line}"
        )
        hashes = [option.removeprefix("hash=").strip() for option in options]
        parsed = Requirement(requirement)
        assert all(HASH.fullmatch(value) for value in hashes) and not parsed.url, line
        assert len(parsed.specifier) == 1 and next(iter(parsed.specifier)).operator == "==", (
            f"{lock.name}: not an exact pin: {line}"
        )
        found[canonicalize_name(parsed.name)] = (parsed, hashes)
    return found


def pinned(entry: tuple[Requirement, list[str]]) -> str:
    return next(iter(entry[0].specifier)).version


def declared(*, test: bool) -> list[Requirement]:
    """What pyproject.toml asks for: the dependencies, the build backend, and with `test` the test extra."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    lines = data["project"]["dependencies"] + data["build-system"]["requires"]
    lines += data["project"]["optional-dependencies"]["test"] if test else []
    return [Requirement(line) for line in lines]


def test_the_locks_were_compiled_from_pyproject_as_it_is_now() -> None:
    stale = lock_script().stale()
    assert not stale, (
        f"{', '.join(stale)}: pyproject.toml's dependencies changed since the lock was made; run scripts/lock"
    )


@pytest.mark.parametrize(
    ("change", "counts"),
    [
        (lambda text: text.replace('"pyyaml>=6",', '"pyyaml>=6",\n    "six>=1.16",'), True),
        (lambda text: text.replace('"pytest>=8.3"', '"pytest>=8.4"'), True),
        (lambda text: text.replace('requires = ["setuptools>=77"]', 'requires = ["setuptools>=80"]'), True),
        (lambda text: text.replace('requires-python = ">=3.11"', 'requires-python = ">=3.12"'), True),
        # Not what a lock is compiled from: comments, order, the description, an extra that has no lock.
        (lambda text: text.replace('"fastapi>=0.121,<1",', '"fastapi>=0.121,<1",  # the web framework'), False),
        (
            lambda text: text.replace(
                '    "sqlmodel>=0.0.22",\n    "sqlalchemy[asyncio]>=2.0.36",',
                '    "sqlalchemy[asyncio]>=2.0.36",\n    "sqlmodel>=0.0.22",',
            ),
            False,
        ),
        (lambda text: text.replace('description = "', 'description = "Now: '), False),
        (lambda text: text.replace('"py-spy>=0.4"', '"py-spy>=0.5"'), False),
    ],
    ids=[
        "dependency",
        "test-extra",
        "build-backend",
        "requires-python",
        "comment",
        "order",
        "description",
        "bench-extra",
    ],
)
def test_the_digest_changes_with_what_a_lock_is_compiled_from_and_nothing_else(
    tmp_path: Path, change: Callable[[str], str], counts: bool
) -> None:
    script = lock_script()
    original = (REPO / "pyproject.toml").read_text()
    changed = change(original)
    assert changed != original, "the change no longer applies to pyproject.toml: update this test"
    (tmp_path / "pyproject.toml").write_text(changed)
    assert (script.digest(tmp_path / "pyproject.toml") != script.digest(REPO / "pyproject.toml")) is counts


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, TEST_LOCK], ids=lambda path: path.name)
def test_every_declared_requirement_is_locked_at_a_version_it_allows(lock: Path) -> None:
    locked = entries(lock)
    for requirement in declared(test=lock == TEST_LOCK):
        if requirement.marker is not None and not requirement.marker.evaluate(
            {"python_version": "3.11", "python_full_version": "3.11.0"}
        ):
            continue
        entry = locked.get(canonicalize_name(requirement.name))
        assert entry is not None, f"{lock.name} has no {requirement.name}: run scripts/lock"
        assert requirement.specifier.contains(pinned(entry), prereleases=True), (
            f"{lock.name}: {requirement.name}=={pinned(entry)} is not {requirement}"
        )


def test_the_image_ships_exactly_what_the_tests_ran() -> None:
    runtime, test = entries(RUNTIME_LOCK), entries(TEST_LOCK)
    assert set(runtime) < set(test)
    assert not [
        name
        for name, entry in runtime.items()
        if (pinned(entry), sorted(entry[1])) != (pinned(test[name]), sorted(test[name][1]))
    ]


def test_the_image_and_the_test_environment_install_from_the_locks() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY requirements.lock ./" in dockerfile
    # The build stage's pip installs into the shipped virtualenv, which has none of its own (tests/test_container.py).
    assert "pip --python /opt/caldicott/bin/python install --require-hashes -r requirements.lock" in dockerfile
    assert "pip --python /opt/caldicott/bin/python install --no-deps --no-build-isolation ." in dockerfile
    venv = (REPO / "scripts" / "venv").read_text()
    assert (
        "--require-hashes" in venv
        and "requirements-test.lock" in venv
        and "requirements.lock" in venv
        and "scripts/lock --check" in venv
    )
