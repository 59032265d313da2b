"""SHA-256 for the keys every stage process computes (the config cache's, the project
environment's location), without loading OpenSSL: CPython's own implementation gives the same
digests, and ``hashlib`` loading libcrypto is a twentieth of a stage's start."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same function, as typed
    from hashlib import sha256
else:
    try:  # CPython 3.11
        from _sha256 import sha256
    except ImportError:  # CPython 3.12 and later; then any other Python
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256

__all__ = ["sha256"]
