"""The composition root: every service is built here, once, from the settings.

The CLI builds one per command, the web app one per process (in its lifespan). Optional
backends (Redis or in-process) are chosen here and nowhere else.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from redis.asyncio import Redis

from authgate.accounts.login import LoginService
from authgate.accounts.mfa import MfaService
from authgate.accounts.passwords import PasswordHashing, PasswordPolicy
from authgate.accounts.users import UserService
from authgate.apikeys.authenticator import ApiKeyAuthenticator
from authgate.apikeys.service import ApiKeyService
from authgate.apis.service import ApiService
from authgate.audit.log import AuditLog
from authgate.clients.remote_jwks import RemoteJwks
from authgate.clients.service import ClientService
from authgate.clock import Clock, SystemClock
from authgate.digests import Digester
from authgate.errors import StorageUnavailable
from authgate.forwardauth.decisions import ForwardAuth, build_forward_auth
from authgate.forwardauth.store import RouteStore
from authgate.keys.master import MasterKey
from authgate.keys.service import KeyService
from authgate.protocol.authorize import AuthorizationPipeline
from authgate.protocol.config import EngineConfig
from authgate.ratelimit.requests import (
    MemoryWindowCounter,
    RedisWindowCounter,
    RequestLimits,
    WindowCounter,
)
from authgate.ratelimit.throttle import (
    LoginThrottle,
    MemoryThrottleStore,
    RedisThrottleStore,
    ThrottleStore,
)
from authgate.rbac.engine import AccessEngine
from authgate.rbac.fanout import ChangeFanout
from authgate.rbac.service import AccessService
from authgate.revocations.feed import forget_expired
from authgate.sessions.service import SessionService
from authgate.settings import ACCESS_POLL_SECONDS, KEY_REFRESH_SECONDS, Settings
from authgate.storage.changes import ChangeWatch
from authgate.storage.db import Database
from authgate.storage.repositories import REVOCATIONS_COUNTER
from authgate.tokens.cache import (
    CachedApis,
    CachedClients,
    CachedRevocations,
)
from authgate.tokens.callers import CallerAuthenticator
from authgate.tokens.consents import ConsentService
from authgate.tokens.credentials import CredentialResolver
from authgate.tokens.engine import OAuthEngine, build_engine
from authgate.tokens.signer import JwtSigner
from authgate.tokens.store import SqlTokenStore


@dataclass
class Container:
    settings: Settings
    clock: Clock
    db: Database
    master: MasterKey
    audit: AuditLog
    users: UserService
    keys: KeyService
    sessions: SessionService
    mfa: MfaService
    login: LoginService
    csrf_key: bytes
    digester: Digester
    clients: ClientService
    apis: ApiService
    access: AccessService
    engine: AccessEngine
    callers: CallerAuthenticator
    credentials: CredentialResolver
    api_keys: ApiKeyService
    api_key_auth: ApiKeyAuthenticator
    access_watch: ChangeWatch
    """Moves when clients, APIs, users, roles, groups or bindings change (anywhere)."""
    revocation_watch: ChangeWatch
    """Moves when anything is revoked (anywhere)."""
    fanout: ChangeFanout
    consents: ConsentService
    oauth: OAuthEngine
    authorize: AuthorizationPipeline
    limits: RequestLimits
    remote_jwks: RemoteJwks
    forward_auth: ForwardAuth
    """Answers reverse proxies' sub-requests (spec §6)."""
    redis: Redis | None = field(default=None)

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, create_master_key: bool = False
    ) -> Container:
        clock = clock or SystemClock()
        master = MasterKey.load_or_create(
            settings.data_dir,
            settings.master_key.get_secret_value() if settings.master_key else None,
            create=create_master_key,
        )
        db = Database(settings.effective_database_url)
        digester = Digester(master.derive("digest"))
        audit = AuditLog(db, master.derive("audit-chain"), clock)
        hashing = PasswordHashing(settings.passwords)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        store: ThrottleStore = RedisThrottleStore(redis) if redis else MemoryThrottleStore()
        counter: WindowCounter = RedisWindowCounter(redis) if redis else MemoryWindowCounter()
        limits = RequestLimits(settings.rate_limits, counter, clock)
        mfa = MfaService(
            db, master, digester, audit, clock, issuer_name=_issuer_name(settings.issuer)
        )
        users = UserService(db, audit, PasswordPolicy(settings.passwords), hashing, clock)
        keys = KeyService(
            db,
            master,
            audit,
            clock,
            propagation=settings.key_propagation,
            max_token_ttl=settings.max_token_ttl,
            refresh_seconds=KEY_REFRESH_SECONDS,
        )
        clients = ClientService(
            db, digester, audit, clock, max_access_token_ttl=settings.max_token_ttl
        )
        engine_config = EngineConfig(
            issuer=settings.issuer,
            access_token_ttl=settings.access_token_ttl,
            refresh_token_ttl=settings.refresh_token_ttl,
            id_token_ttl=settings.id_token_ttl,
        )
        apis = ApiService(db, audit, clock, builtin=engine_config.admin_audience)
        access = AccessService(db, audit, clock)
        watch = ChangeWatch(db, poll_seconds=ACCESS_POLL_SECONDS)
        revoked = ChangeWatch(db, poll_seconds=ACCESS_POLL_SECONDS, counter=REVOCATIONS_COUNTER)
        token_store = SqlTokenStore(db, on_revoked=revoked.invalidate, now=clock.now)
        cached_clients = CachedClients(clients, digester, clock, watch)
        # One watch of the access counter for the decision index and the token path's
        # client and API caches: one poll a second, and a change drops both.
        engine = AccessEngine(db, watch)
        access.listen(engine.changed)

        def holders_changed() -> None:
            """A user or client changed here (perhaps disabled): decisions, this process's
            token caches and the revocation feed look again at once, not at the next poll."""
            engine.changed()
            revoked.invalidate()

        users.listen(holders_changed)
        clients.listen(holders_changed)

        fanout = ChangeFanout(redis, engine.remote_changed)
        engine.also_tell(fanout.changed)
        api_keys = ApiKeyService(db, digester, audit, clock, engine)
        api_key_auth = ApiKeyAuthenticator(api_keys, digester, engine, revoked, clock)
        api_keys.listen(lambda _key_id: revoked.invalidate())
        remote_jwks = RemoteJwks(clock, allow_private=settings.jwks_uri_allow_private_addresses)
        oauth = build_engine(
            engine_config,
            store=token_store,
            signer=JwtSigner(keys),
            clients=cached_clients,
            apis=CachedApis(apis, watch),
            policy=engine,
            users=users,
            digest=digester.digest,
            now=clock.now,
            limit=limits,
            revocations=CachedRevocations(token_store, users, revoked),
            remote_keys=remote_jwks,
            api_keys=api_key_auth,
        )

        async def key_published(kid: str) -> bool:
            return await keys.verification_key(kid) is not None

        callers = CallerAuthenticator(
            oauth.inspector, revoked, watch, clock.now, key_published=key_published
        )
        credentials = CredentialResolver(callers, api_key_auth)
        return cls(
            settings=settings,
            clock=clock,
            db=db,
            master=master,
            audit=audit,
            users=users,
            keys=keys,
            sessions=SessionService(db, digester, clock, settings.session_ttl),
            mfa=mfa,
            login=LoginService(
                db, hashing, LoginThrottle(settings.rate_limits, store, clock), mfa, audit
            ),
            csrf_key=master.derive("csrf"),
            digester=digester,
            clients=clients,
            apis=apis,
            access=access,
            engine=engine,
            callers=callers,
            credentials=credentials,
            api_keys=api_keys,
            api_key_auth=api_key_auth,
            access_watch=watch,
            revocation_watch=revoked,
            fanout=fanout,
            consents=ConsentService(db, audit, clock),
            oauth=oauth,
            authorize=AuthorizationPipeline(
                engine_config,
                cached_clients,
                oauth.apis,
                engine,
                token_store,
                digester.digest,
                clock.now,
            ),
            limits=limits,
            remote_jwks=remote_jwks,
            forward_auth=build_forward_auth(
                settings.forward_auth,
                RouteStore(db, clock, engine.changed, audit),
                credentials,
                engine,
                watch,
                revoked,
                clock,
            ),
            redis=redis,
        )

    async def flush_usage(self) -> None:
        """Write API keys' last-use times (kept in memory between flushes)."""
        await self.api_key_auth.flush_usage()

    async def purge_expired(self) -> dict[str, int]:
        """Delete what has expired for good; any replica may run it (it is idempotent).
        Returns how many rows of each kind went."""
        now = self.clock.now()
        return {
            "sessions": await self.sessions.purge_expired(),
            "access_tokens": await self.oauth.store.purge_expired_access_tokens(now),
            "revocation_events": await forget_expired(self.db, now),
        }

    async def close(self) -> None:
        await self.fanout.flush()
        # Last-used times are a convenience; shutting down must not fail on them.
        with suppress(StorageUnavailable):
            await self.api_key_auth.flush_usage()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


def _issuer_name(issuer: str) -> str:
    """What an authenticator app shows next to the code."""
    host = urlsplit(issuer).hostname or "AuthGate"
    return f"AuthGate ({host})"
