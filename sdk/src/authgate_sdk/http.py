"""The HTTP clients the SDK's parts talk to AuthGate with: the one the application gave
(an ``httpx.AsyncClient`` for async calls, an ``httpx.Client`` for sync ones), else one
made on first use and closed by ``aclose``/``close``."""

from __future__ import annotations

import httpx


class HttpClients:
    def __init__(
        self, http: httpx.AsyncClient | httpx.Client | None = None, timeout: float = 5.0
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._own_async: httpx.AsyncClient | None = None
        self._own_sync: httpx.Client | None = None

    def _async_client(self) -> httpx.AsyncClient:
        if isinstance(self._http, httpx.AsyncClient):
            return self._http
        if self._own_async is None:
            self._own_async = httpx.AsyncClient(timeout=self._timeout)
        return self._own_async

    def _sync_client(self) -> httpx.Client:
        if isinstance(self._http, httpx.Client):
            return self._http
        if self._own_sync is None:
            self._own_sync = httpx.Client(timeout=self._timeout)
        return self._own_sync

    async def aclose(self) -> None:
        """Close the clients this object made (never the application's)."""
        if self._own_async is not None:
            await self._own_async.aclose()
            self._own_async = None
        self.close()

    def close(self) -> None:
        if self._own_sync is not None:
            self._own_sync.close()
            self._own_sync = None
