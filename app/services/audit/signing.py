"""Ed25519 keys that sign audit checkpoints:
made, read, published as JWKs and checked. The one module that uses `cryptography`.

The private key lives in a PEM file outside the database (CALDICOTT_AUDIT_SIGNING_KEY_FILE), so that
whoever can write the database cannot sign. The public keys are published as a JWK set (RFC 7517,
`OKP` keys of RFC 8037), each named by its RFC 7638 thumbprint: from CALDICOTT_AUDIT_PUBLIC_KEYS_FILE,
which keeps every key that ever signed (rotation adds one, never removes one), or else from the
signing key alone. Those published keys, and no key stored in the database, are what a checkpoint's
signature is checked against.
"""

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.canonical import canonical_json

# Others may read it, or the group write it:
# production refuses such a key (a Kubernetes Secret mounted with mode 0440 and an fsGroup passes).
SHARED_MODE_BITS = 0o027
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Base64url without padding, strictly:
    only its alphabet, and only the one text that encodes the bytes (ValueError otherwise)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text):
        raise ValueError("not base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("not base64url") from error
    if b64url(data) != text:  # unused bits set in the last character: another text for the same bytes
        raise ValueError("not the canonical base64url of its bytes")
    return data


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The key as a JWK with its thumbprint as `kid`."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    # RFC 7638: SHA-256 of the required members in lexicographic order, without whitespace.
    kid = b64url(hashlib.sha256(canonical_json(members)).digest())
    return {**members, "kid": kid, "alg": "EdDSA", "use": "sig"}


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs checkpoints, and its published form."""

    private: Ed25519PrivateKey
    jwk: dict[str, str]

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def sign(self, message: bytes) -> str:
        return b64url(self.private.sign(message))


def generate(path: Path) -> SigningKey:
    """A new key written to `path` (mode 0600), which must not exist yet;
    written whole or not at all, so two processes creating it at once agree."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")  # mkstemp makes it 0600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)  # FileExistsError when it is there already: never replaced
    finally:
        Path(temporary).unlink()
    return SigningKey(private=private, jwk=public_jwk(private.public_key()))


def load_signing_key(path: Path, *, create: bool, private_only: bool) -> SigningKey:
    """The key in `path`; created first when missing and `create` (development);
    refused when others may read it and `private_only` (production)."""
    if create and not path.exists():
        try:
            return generate(path)
        except FileExistsError:
            pass  # another process made it meanwhile: read theirs
    if private_only and path.stat().st_mode & SHARED_MODE_BITS:
        raise ValueError(
            f"CALDICOTT_AUDIT_SIGNING_KEY_FILE {path} may be read by others: make it mode 0600, 0400 or 0440"
        )
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"CALDICOTT_AUDIT_SIGNING_KEY_FILE {path} is not an unencrypted PEM private key") from error
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(
            f"CALDICOTT_AUDIT_SIGNING_KEY_FILE {path} is not an Ed25519 key (make one with `caldicott audit keygen`)"
        )
    return SigningKey(private=private, jwk=public_jwk(private.public_key()))


def key_set(value: Any, *, source: str) -> dict[str, dict[str, str]]:
    """The Ed25519 keys of a JWK set ({"keys": [...]}) by kid;
    each kid must be the key's thumbprint, so no name can be borrowed."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ValueError(f"{source} is not a JWK set: an object with a `keys` list")
    keys = {}
    for number, jwk in enumerate(value["keys"]):
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError(f"{source}: key {number} is not an Ed25519 (OKP) key")
        try:
            published = public_jwk(Ed25519PublicKey.from_public_bytes(b64url_decode(jwk.get("x", ""))))
        except ValueError as error:
            raise ValueError(f"{source}: key {number} has no valid `x`") from error
        if jwk.get("kid", published["kid"]) != published["kid"]:
            raise ValueError(f"{source}: key {number}'s kid is not its RFC 7638 thumbprint {published['kid']}")
        keys[published["kid"]] = published
    return keys


def read_key_set(path: Path) -> dict[str, dict[str, str]]:
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}") from error
    return key_set(value, source=str(path))


def write_key_set(path: Path, keys: dict[str, dict[str, str]]) -> None:
    """Write a JWK set, replacing the file whole (it holds public keys only)."""
    text = json.dumps({"keys": list(keys.values())}, indent=2) + "\n"
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text)
    temporary.replace(path)


def verify(jwk: dict[str, str], message: bytes, signature: str) -> bool:
    """True when `signature` (base64url) is the key's Ed25519 signature of `message`."""
    try:
        Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"])).verify(b64url_decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class AuditKeys:
    """The published keys, by kid, and (in a process that signs) the signing key."""

    published: dict[str, dict[str, str]]
    signer: SigningKey | None = None

    def jwk_set(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": list(self.published.values())}


def load_keys(
    *, signing_key_file: Path | None, public_keys_file: Path | None, sign: bool, production: bool
) -> AuditKeys:
    """The keys a process needs: the published set (the public keys file,
    else the signing key's own), and the signer when `sign`.

    Development creates a missing signing key file; production refuses one that is missing or readable by others.
    A signer must be in the published set, or nobody could check what it signs.
    """
    signer = None
    if signing_key_file is not None and (sign or public_keys_file is None):
        signer = load_signing_key(signing_key_file, create=not production, private_only=production)
    if sign and signer is None:
        raise ValueError(
            "set CALDICOTT_AUDIT_SIGNING_KEY_FILE: checkpoints are signed with it (make one with "
            "`caldicott audit keygen --out FILE`)"
        )
    if public_keys_file is not None:
        published = read_key_set(public_keys_file)
    elif signer is not None:
        published = {signer.kid: signer.jwk}
    else:
        raise ValueError(
            "set CALDICOTT_AUDIT_SIGNING_KEY_FILE or CALDICOTT_AUDIT_PUBLIC_KEYS_FILE: "
            "audit checkpoints are checked against them"
        )
    if signer is not None and signer.kid not in published:
        raise ValueError(
            f"the signing key {signer.kid} is not in CALDICOTT_AUDIT_PUBLIC_KEYS_FILE: add it "
            "(`caldicott audit keygen --public-keys FILE` does) before it signs"
        )
    return AuditKeys(published=published, signer=signer)
