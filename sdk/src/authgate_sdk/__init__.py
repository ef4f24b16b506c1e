"""AuthGate resource-server SDK: verify AuthGate access tokens locally.

Framework integrations live in :mod:`authgate_sdk.fastapi` and :mod:`authgate_sdk.asgi`
and are imported only when used.
"""

from authgate_sdk.claims import Claims
from authgate_sdk.errors import InsufficientScope, InvalidToken, IssuerUnavailable
from authgate_sdk.verifier import TokenVerifier

__all__ = ["Claims", "InsufficientScope", "InvalidToken", "IssuerUnavailable", "TokenVerifier"]
