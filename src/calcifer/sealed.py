"""Secrets Calcifer must be able to read back (a webhook's signing secret, a remote's token or SSH key)
are sealed with a key derived from the instance's secret key; secrets it only compares are hashed instead.

A sealed value is Fernet (AES-128-CBC + HMAC-SHA256) text: tampering, or another instance's key, makes
``unseal`` raise ``SealError`` rather than return garbage. The derived key is bound to one purpose, so a
value sealed for one use cannot be unsealed as another.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# What an export without secrets writes in place of a secret (calcifer.backup.export).
REDACTED = "!redacted"


class SealError(ValueError):
    """A sealed value that this instance cannot open (another key, another purpose, or altered)."""


@lru_cache(maxsize=32)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"calcifer-sealed-v1",
                   info=purpose.encode()).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret_key: str, purpose: str, plaintext: str) -> str:
    """``plaintext`` encrypted for ``purpose`` (e.g. ``"webhook-secret"``), as ASCII text to store."""
    return _fernet(secret_key, purpose).encrypt(plaintext.encode()).decode("ascii")


def unseal(secret_key: str, purpose: str, sealed: str) -> str:
    """The plaintext of a value ``seal`` made with the same key and purpose."""
    if sealed == REDACTED:
        raise SealError(f"the stored {purpose} was left out of the export this instance was imported from: "
                        "enter it again")
    try:
        return _fernet(secret_key, purpose).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SealError(f"the stored {purpose} cannot be decrypted with this instance's key") from exc
