"""User accounts: create, change, disable, delete. The CLI, pages and admin API share it."""

from __future__ import annotations

import math
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from authgate.accounts.models import User
from authgate.accounts.passwords import PasswordHashing, PasswordPolicy
from authgate.accounts.usernames import normalize, username_key
from authgate.audit.events import AuditContext, AuditTag
from authgate.audit.log import AuditLog
from authgate.clock import Clock
from authgate.errors import Conflict, InvalidInput, NotFound
from authgate.rbac.service import ROOT, check_scope
from authgate.storage.changes import ACCESS_COUNTER
from authgate.storage.db import Database
from authgate.storage.models import SessionRow, UserRow
from authgate.storage.paths import at_or_below
from authgate.storage.repositories import (
    REVOCATIONS_COUNTER,
    BindingRepository,
    ChangeCounterRepository,
    RevocationLog,
    SessionRepository,
    UserRepository,
)

_ID = re.compile(r"^[A-Za-z0-9._:@|+\-]{1,255}\Z")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}\Z")
_ATTR_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")
MAX_ATTRIBUTES = 64
MAX_ATTR_VALUE = 1024
_GENERATED_BYTES = 18  # 144 bits: 24 URL-safe characters


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A login session as administrators see it: never its secret, nor its full digest."""

    id: str
    stage: str
    amr: tuple[str, ...]
    auth_time: datetime
    created_at: datetime
    expires_at: datetime
    source_ip: str | None
    user_agent: str | None

    @classmethod
    def from_row(cls, row: SessionRow) -> SessionInfo:
        return cls(
            id=row.digest[:16],
            stage=row.stage,
            amr=tuple(row.amr),
            auth_time=row.auth_time,
            created_at=row.created_at,
            expires_at=row.expires_at,
            source_ip=row.source_ip,
            user_agent=row.user_agent,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stage": self.stage,
            "amr": list(self.amr),
            "auth_time": self.auth_time.isoformat(),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
        }


def below(column: Any, scope: str) -> Any:
    """A filter: ``column`` names ``scope`` or a path under it (whole segments only, so
    ``org:acme`` does not reach ``org:acmecorp``). Call with a checked scope."""
    if scope == ROOT:
        return column.is_not(None)
    return at_or_below(column, scope)


def _valid_unicode(text: str, what: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid Unicode") from None
    return text


def check_email(email: str) -> str:
    text = _valid_unicode(email, "the e-mail address").strip()
    if len(text) > 320 or not _EMAIL.match(text):
        raise InvalidInput(f"{email!r} is not an e-mail address")
    return text


#: JSON numbers every consumer reads exactly (RFC 8259 §6; I-JSON, RFC 7493 §2.2).
_MAX_SAFE_INT = 2**53 - 1


def check_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(f"a user may carry at most {MAX_ATTRIBUTES} attributes")
    clean: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, str):
            _valid_unicode(value, f"attribute {key!r}")
        if not _ATTR_KEY.match(key):
            raise InvalidInput(
                f"attribute name {key!r} is invalid: start with a letter or _, then letters, "
                "digits, _ . - (at most 64)"
            )
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, str) and len(value) > MAX_ATTR_VALUE
        ):
            raise InvalidInput(f"attribute {key!r} must be a string of at most 1024 characters")
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"attribute {key!r} holds a NUL character")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"attribute {key!r} must be a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_SAFE_INT:
            raise InvalidInput(f"attribute {key!r} must be an integer within ±(2^53 - 1)")
        clean[key] = value
    return clean


def parse_attr_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings from the command line."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"--attr {pair!r} must look like KEY=VALUE")
        result[key.strip()] = value
    return result


class UserService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        policy: PasswordPolicy,
        hashing: PasswordHashing,
        clock: Clock,
    ) -> None:
        self._db = db
        self._audit = audit
        self._policy = policy
        self._on_change: Callable[[], None] = lambda: None
        self._hashing = hashing
        self._clock = clock

    async def create(
        self,
        username: str,
        ctx: AuditContext,
        *,
        password: str | None = None,
        user_id: str | None = None,
        email: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        scope: str = ROOT,
    ) -> User:
        display = normalize(username)
        path = check_scope(scope)
        key = username_key(display)
        if user_id is not None and not _ID.match(user_id):
            raise InvalidInput("the id may hold 1-255 letters, digits and . _ : @ | + - characters")
        mail = check_email(email) if email else None
        attrs = check_attributes(attributes or {})
        password_hash = None
        if password is not None:
            password_hash = await self._hashing.hash(self._policy.check(password, display))
        now = self._clock.now()
        row = UserRow(
            id=user_id or str(uuid.uuid4()),
            username=display,
            username_key=key,
            email=mail,
            attributes=attrs,
            scope=path,
            password_hash=password_hash,
            disabled=False,
            totp_last_step=0,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._db.transaction() as session:
                users = UserRepository(session)
                if await users.by_key(key) is not None:
                    raise Conflict(f"a user named {display!r} already exists")
                if await users.by_id(row.id) is not None:
                    raise Conflict(f"a user with id {row.id!r} already exists")
                await users.add(row)
                await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
                await self._audit.append(
                    session,
                    AuditTag.USER_CREATED,
                    ctx,
                    scope=path,
                    subject=f"user:{row.id}",
                    details={"username": display, "scope": path},
                )
        except IntegrityError:
            raise Conflict(f"a user named {display!r} already exists") from None
        self._on_change()
        return User.from_row(row)

    def listen(self, on_change: Callable[[], None]) -> None:
        """Tell ``on_change`` (the decision engine) after every committed change."""
        self._on_change = on_change

    async def get(self, username: str) -> User:
        async with self._db.transaction() as session:
            return User.from_row(await self._require(UserRepository(session), username))

    async def get_by_id(self, user_id: str) -> User | None:
        async with self._db.transaction() as session:
            row = await UserRepository(session).by_id(user_id)
            return User.from_row(row) if row else None

    async def list(self, limit: int = 100) -> list[User]:
        async with self._db.transaction() as session:
            return [User.from_row(r) for r in await UserRepository(session).list(limit)]

    async def page(
        self, after: str | None, limit: int, *, q: str | None = None, scope: str | None = None
    ) -> Sequence[User]:
        """Users in id order after ``after``: those whose username or e-mail starts with
        ``q`` (ignoring case), living at ``scope`` or below it."""
        query = select(UserRow).order_by(UserRow.id).limit(limit)
        if after is not None:
            query = query.where(UserRow.id > after)
        if q:
            folded = q.casefold()
            query = query.where(
                or_(
                    UserRow.username_key.startswith(folded, autoescape=True),
                    func.lower(UserRow.email).startswith(folded, autoescape=True),
                )
            )
        if scope is not None:
            query = query.where(below(UserRow.scope, check_scope(scope)))
        async with self._db.transaction() as session:
            return [User.from_row(r) for r in (await session.execute(query)).scalars()]

    async def sessions(self, user_id: str) -> Sequence[SessionInfo]:
        """The user's unexpired login sessions, newest first."""
        query = (
            select(SessionRow)
            .where(SessionRow.user_id == user_id, SessionRow.expires_at > self._clock.now())
            .order_by(SessionRow.created_at.desc(), SessionRow.digest)
        )
        async with self._db.transaction() as session:
            return [SessionInfo.from_row(r) for r in (await session.execute(query)).scalars()]

    async def end_sessions(self, username: str, ctx: AuditContext) -> int:
        """Sign the user out everywhere; their tokens stay (disable the user to end those)."""
        async with self._db.transaction() as session:
            row = await self._require(UserRepository(session), username, lock=True)
            ended = await SessionRepository(session).delete_for_user(row.id)
            await self._audit.append(
                session,
                AuditTag.USER_SESSIONS_ENDED,
                ctx,
                scope=row.scope,
                subject=f"user:{row.id}",
                details={"sessions_ended": ended},
            )
        return ended

    async def reset_password(
        self, username: str, ctx: AuditContext, password: str | None = None
    ) -> str | None:
        """Set ``password`` (checked by the policy), or, without one, a generated password
        that is returned once and never stored in the clear."""
        if password is not None:
            await self.update(username, ctx, password=password)
            return None
        display = normalize(username)
        while True:
            generated = secrets.token_urlsafe(_GENERATED_BYTES)
            try:
                self._policy.check(generated, display)
            except InvalidInput:
                continue  # e.g. it happened to contain the username
            break
        await self.update(username, ctx, password=generated)
        return generated

    async def update(
        self,
        username: str,
        ctx: AuditContext,
        *,
        email: str | None = None,
        set_attributes: Mapping[str, Any] | None = None,
        unset_attributes: Sequence[str] = (),
        password: str | None = None,
        scope: str | None = None,
        expect: Callable[[User], None] | None = None,
    ) -> User:
        """``expect`` sees the user as stored, under a row lock, before anything changes
        (an ``If-Match`` check: RFC 9110 §13.1.1), and may refuse by raising."""
        mail = check_email(email) if email else None
        path = check_scope(scope) if scope is not None else None
        new_hash = None
        if password is not None:
            new_hash = await self._hashing.hash(self._policy.check(password, normalize(username)))
        async with self._db.transaction() as session:
            row = await self._require(UserRepository(session), username, lock=True)
            if expect is not None:
                expect(User.from_row(row))
            attrs = dict(row.attributes)
            for key in unset_attributes:
                if key not in attrs:
                    raise InvalidInput(f"user {row.username!r} has no attribute {key!r}")
                del attrs[key]
            attrs.update(set_attributes or {})
            row.attributes = check_attributes(attrs)
            changed = sorted({*(set_attributes or {}), *unset_attributes})
            if mail is not None:
                row.email = mail
                changed.append("email")
            if new_hash is not None:
                row.password_hash = new_hash
                changed.append("password")
            details: dict[str, Any] = {}
            if path is not None and path != row.scope:
                details["previous_scope"] = row.scope  # auditors there see it leave
                row.scope = path
                changed.append("scope")
            row.updated_at = self._clock.now()
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)  # conditions read them
            await self._audit.append(
                session,
                AuditTag.USER_UPDATED,
                ctx,
                scope=row.scope,
                subject=f"user:{row.id}",
                details={"changed": changed, **details},
            )
            user = User.from_row(row)
        self._on_change()
        return user

    async def set_disabled(
        self,
        username: str,
        disabled: bool,
        ctx: AuditContext,
        *,
        expect: Callable[[User], None] | None = None,
    ) -> User:
        """Disabling ends every session of the user at once (spec §7). ``expect`` as in
        :meth:`update`."""
        async with self._db.transaction() as session:
            row = await self._require(UserRepository(session), username, lock=True)
            if expect is not None:
                expect(User.from_row(row))
            row.disabled = disabled
            row.updated_at = self._clock.now()
            ended = 0
            if disabled:
                ended = await SessionRepository(session).delete_for_user(row.id)
            # Token checks and decisions cache "user active"; every process looks again, and
            # the revocation feed tells enforcement points to refuse what the user held.
            if disabled:
                await RevocationLog(session).record("user", row.id, row.updated_at)
            else:
                await ChangeCounterRepository(session).bump(REVOCATIONS_COUNTER)
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            tag = AuditTag.USER_DISABLED if disabled else AuditTag.USER_ENABLED
            await self._audit.append(
                session,
                tag,
                ctx,
                scope=row.scope,
                subject=f"user:{row.id}",
                details={"sessions_ended": ended},
            )
            user = User.from_row(row)
        self._on_change()
        return user

    async def delete(
        self, username: str, ctx: AuditContext, *, expect: Callable[[User], None] | None = None
    ) -> None:
        """``expect`` as in :meth:`update`."""
        async with self._db.transaction() as session:
            users = UserRepository(session)
            row = await self._require(users, username, lock=True)
            if expect is not None:
                expect(User.from_row(row))
            await SessionRepository(session).delete_for_user(row.id)
            # Bindings name users by id without a foreign key; group memberships cascade.
            await BindingRepository(session).delete_for_member(f"user:{row.id}")
            await users.delete(row)
            await RevocationLog(session).record("user", row.id, self._clock.now())
            await ChangeCounterRepository(session).bump(ACCESS_COUNTER)
            await self._audit.append(
                session,
                AuditTag.USER_DELETED,
                ctx,
                scope=row.scope,
                subject=f"user:{row.id}",
                details={"username": row.username},
            )
        self._on_change()

    @staticmethod
    async def _require(users: UserRepository, username: str, *, lock: bool = False) -> UserRow:
        row = await users.by_key(username_key(username), lock=lock)
        if row is None:
            raise NotFound(f"no user named {username!r}")
        return row
