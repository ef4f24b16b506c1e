"""Operations endpoints, request ids, body limits and the database-down answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.container import Container
from authgate.web.app import create_app
from tests.conftest import make_settings
from tests.support.server import free_port
from tests.web.conftest import csrf_token


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "keys": "ok"}


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    made = await client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    hostile = await client.get("/healthz", headers={"X-Request-ID": "bad\r\nvalue <script>"})
    assert hostile.headers["x-request-id"] != "bad\r\nvalue <script>"


async def test_metrics_are_prometheus_text(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        'authgate_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    )


async def test_huge_form_body_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/login",
        content=b"username=" + b"a" * 200_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


async def test_huge_chunked_body_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"a" * 10_000

    response = await client.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


async def test_unknown_path_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_jwks_and_discovery(container: Container, client: httpx.AsyncClient) -> None:
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.headers["content-type"].startswith("application/jwk-set+json")
    assert "max-age=" in jwks.headers["cache-control"]
    keys = jwks.json()["keys"]
    assert {k["alg"] for k in keys} == {"ES256", "RS256", "EdDSA"}
    assert all("d" not in k and "p" not in k for k in keys), "private parts must never be published"
    meta = (await client.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == container.settings.issuer
    assert meta["jwks_uri"] == container.settings.issuer + "/.well-known/jwks.json"
    assert (await client.get("/.well-known/oauth-authorization-server")).json() == meta


async def test_database_down_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Spec §7: a JSON 503 with Retry-After, never a 500, while the database is unreachable."""
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, f"postgresql://127.0.0.1:{free_port()}/nothing")
    container = Container.build(settings, create_master_key=True)
    app = create_app(settings, container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = await csrf_token(client)  # the login form itself needs no database
        client.cookies.set("authgate_session", "ags_some-session", domain="testserver.local")
        form = {"username": "alice", "password": "whatever-it-is", "csrf_token": token}
        for method, path, data in [
            ("GET", "/account", None),
            ("POST", "/login", form),
            ("GET", "/.well-known/jwks.json", None),
            ("GET", "/readyz", None),
        ]:
            response = await client.request(method, path, data=data)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["retry-after"]
            assert "error" in json.loads(response.text) or response.json()["status"] == "not_ready"
        assert (await client.get("/healthz")).status_code == 200
    await container.close()


async def test_https_issuer_pins_cookies_to_the_host(container: Container) -> None:
    """RFC 6265bis §4.1.3.2: over https both cookies are Secure and carry ``__Host-``."""
    settings = make_settings(
        container.settings.data_dir,
        container.settings.effective_database_url,
        issuer="https://auth.example.com",
    )
    container.settings = settings
    await container.users.create("hank", CLI, password="violet-kettle-orbit")
    app = create_app(settings, container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        page = await client.get("/login")
        csrf_cookie = page.headers["set-cookie"]
        assert csrf_cookie.startswith("__Host-authgate_csrf=")
        assert "Secure" in csrf_cookie and "HttpOnly" in csrf_cookie
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert token
        form = {"username": "hank", "password": "violet-kettle-orbit", "csrf_token": token.group(1)}
        response = await client.post("/login", data=form)
        assert response.status_code == 303
        session_cookie = response.headers["set-cookie"]
        assert session_cookie.startswith("__Host-authgate_session=")
        assert "Secure" in session_cookie and "Path=/" in session_cookie
        assert "Domain" not in session_cookie
        assert (await client.get("/account")).status_code == 200


async def test_redis_down_answers_503_not_500(container: Container) -> None:
    """With Redis configured but unreachable, a login is refused with 503 (never
    unthrottled, never a 500) and readiness says why."""
    settings = make_settings(
        container.settings.data_dir,
        container.settings.effective_database_url,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    broken = Container.build(settings)
    app = create_app(settings, broken)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        token = await csrf_token(client)
        response = await client.post(
            "/login", data={"username": "a", "password": "b", "csrf_token": token}
        )
        assert response.status_code == 503
        assert response.headers["retry-after"]
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] == "unreachable"
    await broken.close()


async def test_back_channel_requests_are_counted_under_their_own_routes(
    client: httpx.AsyncClient,
) -> None:
    """The plain-ASGI OAuth endpoints are counted by path, not as "unmatched"."""
    await client.post("/oauth/token", data={"grant_type": "client_credentials"})
    await client.post("/oauth/introspect", data={"token": "x"})
    text = (await client.get("/metrics")).text
    assert 'route="/oauth/token",status="401"' in text
    assert 'route="/oauth/introspect",status="401"' in text
