"""The login flow: password, then (when enrolled) a second factor, with throttling.

Every failure answers the same generic message, and an unknown username costs the same
argon2 verification as a wrong password (OWASP Authentication Cheat Sheet, "Authentication
and Error Messages"), so neither the words nor the timing enumerate accounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from authgate.accounts.mfa import MfaService
from authgate.accounts.passwords import PasswordHashing
from authgate.accounts.usernames import username_key
from authgate.audit.events import GLOBAL_SCOPE, AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.errors import AuthenticationFailed, InvalidInput
from authgate.ratelimit.throttle import Attempt, LoginThrottle
from authgate.storage.db import Database
from authgate.storage.repositories import UserRepository

GENERIC_FAILURE = "Incorrect username or password."
MFA_FAILURE = "That code is not valid. Enter the current code from your app, or a recovery code."


@dataclass(frozen=True)
class PasswordOutcome:
    user_id: str
    username: str
    needs_mfa: bool


class LoginService:
    def __init__(
        self,
        db: Database,
        hashing: PasswordHashing,
        throttle: LoginThrottle,
        mfa: MfaService,
        audit: AuditLog,
    ) -> None:
        self._db = db
        self._hashing = hashing
        self._throttle = throttle
        self._mfa = mfa
        self._audit = audit

    async def check_password(
        self, username: str, password: str, ctx: AuditContext
    ) -> PasswordOutcome:
        try:
            key = username_key(username)
        except InvalidInput:
            key = "~invalid"  # "~" never appears in a real username key
        if len(password) > 4096:
            password = password[:4096]  # bounded work; such a password never matches
        attempt = await self._throttle.begin(key, ctx.source_ip)
        try:
            async with self._db.transaction() as session:
                row = await UserRepository(session).by_key(key)
                stored = row.password_hash if row is not None else None
            ok = await self._hashing.verify(stored, password)
        except BaseException:
            await self._throttle.release(attempt)
            raise
        if not ok or row is None or row.disabled:
            await self._fail(
                attempt,
                ctx,
                AuditTag.LOGIN_FAILURE,
                row.id if row else None,
                row.scope if row else GLOBAL_SCOPE,
            )
            raise AuthenticationFailed(GENERIC_FAILURE)
        await self._throttle.succeeded(attempt)
        if stored is not None and self._hashing.needs_rehash(stored):
            await self._rehash(row.id, password, ctx)  # audited at the user's scope
        needs_mfa = row.totp_enabled_at is not None
        if not needs_mfa:
            await self._audit.record(
                AuditTag.LOGIN_SUCCESS,
                ctx,
                scope=row.scope,
                subject=f"user:{row.id}",
                details={"amr": ["pwd"]},
            )
        return PasswordOutcome(row.id, row.username, needs_mfa)

    async def check_second_factor(self, user_id: str, code: str, ctx: AuditContext) -> str:
        """The second login step; returns the method used (``otp`` or ``recovery``)."""
        method, scope = await self._confirm(user_id, code, ctx)
        await self._audit.record(
            AuditTag.LOGIN_SUCCESS,
            ctx,
            scope=scope,
            subject=f"user:{user_id}",
            details={"amr": ["pwd", "otp"]},
        )
        return method

    async def confirm_second_factor(self, user_id: str, code: str, ctx: AuditContext) -> str:
        """Check a code from the enrolled factor (throttled, audited, single-use)."""
        method, _ = await self._confirm(user_id, code, ctx)
        return method

    async def _confirm(self, user_id: str, code: str, ctx: AuditContext) -> tuple[str, str]:
        """The method used and the user's scope (where the events are recorded)."""
        attempt = await self._throttle.begin("mfa:" + user_id, ctx.source_ip)
        try:
            method = await self._mfa.verify(user_id, code)
            async with self._db.transaction() as session:
                user = await UserRepository(session).by_id(user_id)
        except BaseException:
            await self._throttle.release(attempt)
            raise
        scope = user.scope if user is not None else GLOBAL_SCOPE
        if method is None:
            await self._fail(attempt, ctx, AuditTag.MFA_FAILURE, user_id, scope)
            raise AuthenticationFailed(MFA_FAILURE)
        await self._throttle.succeeded(attempt)
        tag = AuditTag.MFA_SUCCESS if method == "otp" else AuditTag.MFA_RECOVERY_CODE_USED
        await self._audit.record(tag, ctx, scope=scope, subject=f"user:{user_id}")
        return method, scope

    async def _fail(
        self, attempt: Attempt, ctx: AuditContext, tag: AuditTag, user_id: str | None, scope: str
    ) -> None:
        """Recorded at the user's scope (``/`` when no such user exists)."""
        locked = await self._throttle.failed(attempt)
        subject = f"user:{user_id}" if user_id else None
        await self._audit.record(tag, ctx, scope=scope, subject=subject)
        if locked:
            await self._audit.record(AuditTag.LOGIN_LOCKOUT, ctx, scope=scope, subject=subject)

    async def _rehash(self, user_id: str, password: str, ctx: AuditContext) -> None:
        """The cost parameters changed since this hash was made: upgrade it now, while we
        hold the plaintext (argon2-cffi ``check_needs_rehash``)."""
        new_hash = await self._hashing.hash(password)
        async with self._db.transaction() as session:
            row = await UserRepository(session).by_id(user_id)
            if row is not None:
                row.password_hash = new_hash
                await self._audit.append(
                    session,
                    AuditTag.PASSWORD_REHASHED,
                    ctx,
                    scope=row.scope,
                    subject=f"user:{user_id}",
                )
