"""Callers of AuthGate's own APIs (the decision API, the admin API): who presents a
bearer access token issued by AuthGate for the given audience (RFC 6750 §2.1).

Verifying a token is a signature check plus the revocation questions; a caller presents
the same token many times, so the verified caller is kept until the token expires or
anything is revoked or the access model changes (client disabled, user disabled).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from authgate.protocol.endpoints import TokenInspector
from authgate.storage.changes import ChangeWatch
from authgate.tokens.signer import token_kid

_MAX_CACHED = 10_000
_MAX_TOKEN = 8192


def covers(held: frozenset[str], permission: str) -> bool:
    """``held`` grants ``permission`` itself, its resource's ``*``, or everything."""
    resource, sep, _ = permission.partition(":")
    return permission in held or "*" in held or (bool(sep) and resource + ":*" in held)


@dataclass(frozen=True, slots=True)
class Caller:
    """``subject_type`` is ``user`` or ``client``; ``scopes`` are what the token carries
    (for an API key: what it may do at ``/`` now, its list cut to what its owner holds).
    ``key_id`` is set when the caller presented an API key owned by the subject, with the
    key's own list in ``key_permissions`` (None: whatever the owner holds). ``expires_at``
    is when the credential ends."""

    subject_type: str
    subject_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: int
    key_id: str | None = None
    key_permissions: frozenset[str] | None = None

    @property
    def kind(self) -> str:
        """``user``, ``client`` or ``apikey`` (the ``X-Authgate-Subject-Type`` of spec §6)."""
        return "apikey" if self.key_id is not None else self.subject_type

    def delegates(self, permission: str) -> bool:
        """Whether the credential carries ``permission`` at ``/``: in the token's scope, or
        among what the API key may do now (its list, cut to what its owner holds at ``/``)."""
        return covers(self.scopes, permission) and self.key_allows(permission)

    @property
    def scope_text(self) -> str:
        """What the credential may do at ``/``, space-separated: the token's scope, or for
        an API key its list cut to what its owner holds (all the owner holds, unlisted)."""
        if self.key_permissions is None:
            return " ".join(sorted(self.scopes))
        return " ".join(sorted(p for p in self.key_permissions if covers(self.scopes, p)))

    def key_allows(self, permission: str) -> bool:
        """API keys are limited to their list; tokens answer to the subject's bindings."""
        return self.key_permissions is None or covers(self.key_permissions, permission)

    @property
    def member(self) -> str:
        return f"{self.subject_type}:{self.subject_id}"

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return self.member


class CallerAuthenticator:
    def __init__(
        self,
        inspector: TokenInspector,
        revocations: ChangeWatch,
        access: ChangeWatch,
        now: Callable[[], datetime],
        key_published: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._inspector = inspector
        #: Whether the signing key ``kid`` is still published: a cached caller must not
        #: outlive the key that signed its token (RFC 8725 §3.1, key retirement).
        self._key_published = key_published
        self._revocations = revocations
        self._access = access
        self._now = now
        self._cache: dict[tuple[str, str | None], tuple[int, int, Caller]] = {}

    async def authenticate(self, token: str, audience: str | None) -> Caller | None:
        """The caller behind ``token`` when it is a live AuthGate access token whose
        ``aud`` holds ``audience`` (any audience when None); None otherwise (RFC 6750 §3.1
        ``invalid_token``)."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        generations = (await self._revocations.current(), await self._access.current())
        key = (token, audience)
        cached = self._cache.get(key)
        now = int(self._now().timestamp())
        if cached is not None:
            if (
                (cached[0], cached[1]) == generations
                and cached[2].expires_at > now
                and await self._still_signed(token)
            ):
                return cached[2]
            del self._cache[key]
        claims = await self._inspector.access_token(token)
        if claims is None:
            return None
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else list(aud or [])
        if audience is not None and audience not in audiences:
            return None
        client_id = str(claims.get("client_id", ""))
        subject = str(claims.get("sub", ""))
        kind = "client" if subject == client_id else "user"
        caller = Caller(
            subject_type=kind,
            subject_id=subject,
            client_id=client_id,
            scopes=frozenset(str(claims.get("scope", "")).split()),
            expires_at=int(claims["exp"]),
        )
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[key] = (*generations, caller)
        return caller

    async def _still_signed(self, token: str) -> bool:
        if self._key_published is None:
            return True
        kid = token_kid(token)
        return kid is None or await self._key_published(kid)  # None: an opaque reference
