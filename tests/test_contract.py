"""The published contract in openapi/ is exactly what the app serves."""

import json
from pathlib import Path

from app.main import create_app
from tests.support import settings_for

CONTRACT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_checked_in_openapi_is_current() -> None:
    served = create_app(settings_for("sqlite+aiosqlite:///:memory:")).openapi()
    assert json.loads(CONTRACT.read_text()) == served, "openapi/openapi.json is stale: run `caldicott openapi`"
