"""Small async factories that set things up through the admin API."""

from typing import Any

import httpx

from tests.support import Tokens

# Changes to the baseline request (tests.rules.baseline.changed) that put a request where a test needs it.
# Information assets of the controller (/v1/information-assets). The baseline request asks for demographics and
# diagnoses: the EPR holds them, the pharmacy system neither.
EPR_ASSET = {
    "code": "EPR",
    "name": "Electronic patient record",
    "system": "Lorenzo",
    "supplier": "DXC Technology",
    "owner": "iao-1",
    "administrator": "EPR system manager",
    "data_categories": ["demographics", "diagnoses"],
    "hosting": "Supplier's UK data centre",
    "last_risk_review": "2026-09-30",
}
PHARMACY_ASSET = EPR_ASSET | {
    "code": "PHARM",
    "name": "Pharmacy system",
    "owner": "iao-2",
    "data_categories": ["medications"],
}
REFERRED = {"recipient.onward_sharing": True}  # CP4.onward_sharing refers it to a guardian
# An order of a court cited as a verified duty (policy 2028.1): approved with CP6.court_order_verified's condition, the
# controller's check that information governance has seen the sealed order.
COURT_ORDER = {
    "purpose.category": "court_order",
    "legal_basis.confidentiality": "legal_requirement",
    "legal_basis.provision": "court_order",
    "legal_basis.reference": "Order 2028/123",
    "legal_basis.article_6": "legal_obligation",
    "legal_basis.article_9": "legal_claims",
}
# An emergency share under 2027.1, reviewed retrospectively: only waivable referrals (the public-interest
# test, Schedule 1 para. 18 for a capable adult).
EMERGENCY = {
    "urgency": "emergency",
    "purpose.category": "safeguarding_adult",
    "legal_basis.article_6": "vital_interests",
    "legal_basis.article_9": "substantial_public_interest",
    "legal_basis.schedule1_paragraph": 18,
    "legal_basis.confidentiality": "overriding_public_interest",
}


async def register_organisation(
    client: httpx.AsyncClient,
    tokens: Tokens,
    code: str = "RXT01",
    *,
    type: str = "nhs_trust",
    dspt_status: str = "standards_met",
    name: str | None = None,
) -> dict[str, Any]:
    """Register an organisation as an admin and return its public form."""
    body = {"code": code, "name": name or f"Organisation {code}", "type": type, "dspt_status": dspt_status}
    response = await client.post("/v1/organisations", json=body, headers=tokens.admin())
    assert response.status_code == 201, response.text
    return response.json()


async def register_agreement(client: httpx.AsyncClient, tokens: Tokens, **fields: Any) -> dict[str, Any]:
    """Register a sharing agreement as an admin and return its public form."""
    body = {
        "code": "ISA-TEST",
        "title": "Test agreement",
        "parties": ["RXT01"],
        "purposes": ["direct_care"],
        "data_categories": ["demographics", "diagnoses"],
        "valid_from": "2020-01-01",
        "valid_until": "2099-12-31",
        "status": "active",
    } | fields
    response = await client.post("/v1/sharing-agreements", json=body, headers=tokens.admin())
    assert response.status_code == 201, response.text
    return response.json()


async def submit(
    client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any], org: str = "RXT01", **headers: str
) -> httpx.Response:
    """POST a sharing request as an agency of `org`."""
    return await client.post("/v1/sharing-requests", json=body, headers=tokens.agency(org) | headers)


async def patch_current(
    client: httpx.AsyncClient, path: str, *, json: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """PATCH an organisation or agreement with If-Match set to the ETag a GET
    (with the same headers) answers now; none if the GET fails."""
    read = await client.get(path, headers=headers)
    precondition = {"If-Match": read.headers["ETag"]} if read.status_code == 200 else {}
    return await client.patch(path, json=json, headers=headers | precondition)
