"""Secrets kept in the store (Fyers tokens, TOTP keys) are encrypted with one Fernet key,
TOKEN_ENCRYPTION_KEY (generated into the data folder on a single host; the same value on
every host that shares a store)."""
from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from config import Config


def _fernet(config: Config) -> Fernet:
    return Fernet(config.secret("token_encryption_key").encode())


def encrypt(config: Config, plain: str) -> str:
    """`plain` encrypted, as text the store can keep."""
    return _fernet(config).encrypt(plain.encode()).decode()


def decrypt(config: Config, stored: str) -> str | None:
    """The plain text of a value `encrypt` made; None when another key encrypted it."""
    try:
        return _fernet(config).decrypt(stored.encode()).decode()
    except InvalidToken:
        return None
