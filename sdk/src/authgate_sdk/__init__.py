"""AuthGate resource-server SDK: verify AuthGate access tokens locally, API keys and
opaque tokens by introspection, follow AuthGate's revocation feed, and ask it for
resource-level decisions.

Framework integrations live in :mod:`authgate_sdk.fastapi`, :mod:`authgate_sdk.asgi` and
:mod:`authgate_sdk.flask` and are imported only when used.
"""

from authgate_sdk.claims import Claims
from authgate_sdk.decisions import DecisionClient
from authgate_sdk.errors import InsufficientScope, InvalidToken, IssuerUnavailable
from authgate_sdk.feed import RevocationFeed
from authgate_sdk.verifier import TokenVerifier

__all__ = [
    "Claims",
    "DecisionClient",
    "InsufficientScope",
    "InvalidToken",
    "IssuerUnavailable",
    "RevocationFeed",
    "TokenVerifier",
]
