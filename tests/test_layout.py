"""The layout a newcomer can rely on: HTTP at the edge, services in domain packages, a short root.

Checked from the code's imports (ast), not by convention: a service that starts reading headers or
the app's state fails here before review.
"""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
SERVICES = APP / "services"
HTTP_LIBRARIES = ("fastapi", "starlette")
MAX_ROOT_MODULES = 10
MAX_PACKAGE_MODULES = 12


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
    return names


def inner_modules(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.py") if path.name != "__init__.py")


@pytest.mark.parametrize(
    "path", inner_modules(SERVICES) + inner_modules(APP / "rules"), ids=lambda path: str(path.relative_to(APP.parent))
)
def test_services_and_rules_know_no_http(path: Path) -> None:
    """Negotiation, multipart bodies, headers and the app's state are read at the edge (app/http/, app/routers/,
    app/console/)."""
    http = sorted(
        name
        for name in imported(path)
        if name.split(".")[0] in HTTP_LIBRARIES
        or name.startswith(("app.http", "app.routers", "app.console", "app.main"))
    )
    assert not http, f"{path.name} imports {http}"
    assert "app.state" not in path.read_text(), f"{path.name} reads the app's state"


def test_the_root_of_app_is_short() -> None:
    root = sorted(path.name for path in APP.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def test_services_are_packages_of_a_readable_size() -> None:
    assert not list(SERVICES.glob("[!_]*.py")), "app/services/ holds packages, one per domain"
    sizes = {
        package.name: len(inner_modules(package))
        for package in SERVICES.iterdir()
        if (package / "__init__.py").exists()
    }
    assert sizes and max(sizes.values()) <= MAX_PACKAGE_MODULES, sizes


@pytest.mark.parametrize("path", inner_modules(APP), ids=lambda path: str(path.relative_to(APP.parent)))
def test_only_the_token_module_touches_python_jose(path: Path) -> None:
    if path.relative_to(APP).as_posix() != "http/tokens.py":
        assert not any(name.split(".")[0] == "jose" for name in imported(path)), f"{path.name} imports python-jose"


@pytest.mark.parametrize("path", inner_modules(APP), ids=lambda path: str(path.relative_to(APP.parent)))
def test_only_the_console_s_sign_in_client_touches_authlib(path: Path) -> None:
    """Authlib (and joserfc, its JOSE library) in one module: the OpenID client of app/console/oidc.py."""
    if path.relative_to(APP).as_posix() != "console/oidc.py":
        touched = sorted(name for name in imported(path) if name.split(".")[0] in ("authlib", "joserfc"))
        assert not touched, f"{path.name} imports {touched}"
