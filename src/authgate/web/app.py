"""The ASGI application: routes, middleware and the container's lifetime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate import __version__
from authgate.container import Container
from authgate.errors import StorageUnavailable
from authgate.settings import ACCESS_POLL_SECONDS, Settings
from authgate.storage.migrate import require_current
from authgate.web import account, authorize, authzen, console, errors, login, ops, wellknown
from authgate.web.admin import routes as admin_routes
from authgate.web.authzen import AuthZenFastPath
from authgate.web.fastpath import OAuthFastPath
from authgate.web.forward_auth import ForwardAuthFastPath
from authgate.web.middleware import BodyLimitMiddleware, Metrics, RequestContextMiddleware
from authgate.web.revocation_feed import router as revocation_feed_router


class AuthGateApp:
    """The ASGI entry point: the middleware chain, with the FastAPI app kept reachable
    (its ``state`` holds the container and the metrics)."""

    def __init__(self, chain: ASGIApp, inner: FastAPI) -> None:
        self._chain = chain
        self.inner = inner
        self.state = inner.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._chain(scope, receive, send)


def create_app(settings: Settings, container: Container | None = None) -> AuthGateApp:
    """Build the app. With no ``container`` one is built at start-up and closed at
    shutdown; start-up fails (with the reason) on an unmigrated database."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = container is None
        built = container or Container.build(settings)
        housekeeping: asyncio.Task[None] | None = None
        feed: asyncio.Task[None] | None = None
        follower: asyncio.Task[None] | None = None
        try:
            if own:
                await require_current(built.db)
                await built.keys.infos()  # loaded now, so JWT work survives a DB outage
            app.state.container = built
            if own:
                housekeeping = asyncio.create_task(_housekeeping(built))
                feed = asyncio.create_task(built.fanout.listen())
                follower = asyncio.create_task(built.engine.follow(ACCESS_POLL_SECONDS))
            yield
        finally:
            if own:
                for task in (feed, follower):
                    if task is not None:
                        task.cancel()
                if housekeeping is not None:
                    housekeeping.cancel()
                await built.close()

    app = FastAPI(
        title="AuthGate",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.metrics = Metrics()
    if container is not None:
        app.state.container = container
    errors.install(app)
    for module in (ops, wellknown, login, account, authorize, authzen, admin_routes, console):
        app.include_router(module.router)
    app.include_router(revocation_feed_router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    # Outermost first: forward auth (counted, not access-logged: the proxy logs each
    # request), request id and access log, body limit, then the plain-ASGI AuthZEN
    # decision endpoints and OAuth back channel, then everything else through FastAPI.
    def current() -> Container:
        return cast(Container, app.state.container)

    fast = AuthZenFastPath(OAuthFastPath(app, current), current)
    limited = BodyLimitMiddleware(fast, max_bytes=settings.max_form_bytes)
    logged = RequestContextMiddleware(limited, metrics=app.state.metrics)
    return AuthGateApp(ForwardAuthFastPath(logged, current, app.state.metrics), app)


USAGE_FLUSH_SECONDS = 30
PURGE_EVERY = 20  # flushes: expired rows go every ten minutes
log = logging.getLogger("authgate.web")


async def _housekeeping(container: Container) -> None:
    """Write API keys' last-use times every half minute, and delete expired sessions,
    opaque access tokens and revocation events every ten minutes."""
    ticks = 0
    while True:
        await asyncio.sleep(USAGE_FLUSH_SECONDS)
        ticks += 1
        try:
            await container.flush_usage()
            if ticks % PURGE_EVERY == 0:
                purged = await container.purge_expired()
                if any(purged.values()):
                    log.info("expired rows deleted", extra=purged)
        except StorageUnavailable:
            pass
        except Exception:  # a bug here must not end housekeeping for good
            log.exception("housekeeping failed")
