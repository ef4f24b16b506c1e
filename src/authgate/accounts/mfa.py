"""TOTP second factor (RFC 6238) and one-time recovery codes.

Codes are accepted within one time step either side (RFC 6238 §5.2 recommends at most one
step of allowed network delay) and never twice: the last accepted step is stored, and a
code from that step or an earlier one is refused. Secrets are sealed with the master key;
recovery codes are stored as keyed digests and burn on use.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass

import pyotp

from authgate.audit.events import AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.digests import Digester
from authgate.errors import ConfigurationError, InvalidInput, NotFound
from authgate.keys.master import MasterKey
from authgate.storage.db import Database
from authgate.storage.repositories import RecoveryCodeRepository, UserRepository

RECOVERY_CODES = 10
VALID_WINDOW = 1
_SEAL = "totp-secret"
_ENROLMENT_SEAL = "totp-enrolment:"
_TOTP_CODE = re.compile(r"^[0-9]{6}\Z")
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    recovery_codes: list[str]


def _recovery_code() -> str:
    # 16 characters from a 31-letter alphabet: about 79 bits.
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _normalize_recovery(code: str) -> str:
    raw = re.sub(r"[\s-]", "", code.lower())
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


class MfaService:
    def __init__(
        self,
        db: Database,
        master: MasterKey,
        digester: Digester,
        audit: AuditLog,
        clock: Clock,
        issuer_name: str,
    ) -> None:
        self._db = db
        self._master = master
        self._digester = digester
        self._audit = audit
        self._clock = clock
        self._issuer_name = issuer_name

    def new_secret(self) -> str:
        return pyotp.random_base32(32)  # 160 bits, RFC 4226 §4 R6 recommends 160

    def otpauth_uri(self, secret: str, username: str) -> str:
        return str(
            pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=self._issuer_name)
        )

    def seal_pending(self, user_id: str, secret: str) -> str:
        """A not-yet-confirmed secret, sealed for one user, to round-trip through a form."""
        return self._master.seal(secret.encode(), _ENROLMENT_SEAL + user_id).hex()

    def open_pending(self, user_id: str, sealed: str) -> str:
        try:
            return self._master.open(bytes.fromhex(sealed), _ENROLMENT_SEAL + user_id).decode()
        except (ValueError, ConfigurationError):
            raise InvalidInput(
                "This set-up form was altered or belongs to another account. "
                "Start again with the new code below."
            ) from None

    async def activate(
        self, user_id: str, secret: str, ctx: AuditContext, *, used_step: int = 0
    ) -> Enrolment:
        """Store ``secret`` as the user's factor (active at once) with fresh recovery codes.
        ``used_step`` is the step of the code that confirmed enrolment, so it cannot log in."""
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        async with self._db.transaction() as session:
            user = await UserRepository(session).by_id(user_id)
            if user is None:
                raise NotFound("no such user")
            user.totp_secret_enc = self._master.seal(secret.encode(), _SEAL)
            user.totp_enabled_at = self._clock.now()
            user.totp_last_step = used_step
            await RecoveryCodeRepository(session).replace(
                user_id, [self._digester.digest(c) for c in codes]
            )
            await self._audit.append(
                session, AuditTag.MFA_ENROLLED, ctx, scope=user.scope, subject=f"user:{user_id}"
            )
            username = user.username
        return Enrolment(secret, self.otpauth_uri(secret, username), codes)

    async def reset(self, user_id: str, ctx: AuditContext) -> bool:
        """Remove the user's factor and recovery codes (a lost device): they log in with
        the password alone until they enrol again. False when none was enrolled."""
        async with self._db.transaction() as session:
            user = await UserRepository(session).by_id(user_id, lock=True)
            if user is None:
                raise NotFound("no such user")
            had = user.totp_secret_enc is not None
            user.totp_secret_enc = None
            user.totp_enabled_at = None
            user.updated_at = self._clock.now()
            await RecoveryCodeRepository(session).replace(user_id, [])
            await self._audit.append(
                session, AuditTag.MFA_RESET, ctx, scope=user.scope, subject=f"user:{user_id}"
            )
        return had

    def check_code(self, secret: str, code: str) -> int | None:
        """For enrolment: the time step ``code`` matches for ``secret`` now, or None."""
        return self._matching_step(secret, code.strip())

    def _matching_step(self, secret: str, code: str) -> int | None:
        if not _TOTP_CODE.match(code):
            return None
        totp = pyotp.TOTP(secret)
        now = self._clock.now()
        current = totp.timecode(now)
        found = None
        for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
            expected = totp.generate_otp(current + offset)
            if hmac.compare_digest(expected, code):
                found = current + offset
        return found

    async def verify(self, user_id: str, code: str) -> str | None:
        """``"otp"`` or ``"recovery"`` when ``code`` is a valid, unused factor; else None."""
        text = code.strip()
        async with self._db.transaction() as session:
            # Locked: two concurrent submissions of one code must not both pass.
            user = await UserRepository(session).by_id(user_id, lock=True)
            if user is None or user.totp_secret_enc is None:
                return None
            if _TOTP_CODE.match(text):
                secret = self._master.open(user.totp_secret_enc, _SEAL).decode()
                step = self._matching_step(secret, text)
                if step is None or step <= user.totp_last_step:
                    return None  # wrong, or replayed (RFC 6238 §5.2)
                user.totp_last_step = step
                return "otp"
            if len(text) > 64:
                return None
            digest = self._digester.digest(_normalize_recovery(text))
            if await RecoveryCodeRepository(session).use(user_id, digest, self._clock.now()):
                return "recovery"
            return None

    async def remaining_recovery_codes(self, user_id: str) -> int:
        async with self._db.transaction() as session:
            return await RecoveryCodeRepository(session).remaining(user_id)
