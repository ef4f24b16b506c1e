"""The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2) as a
visible pipeline of small named steps.

Until the client and its redirect URI are known to be good, errors are shown to the
user; after that they go back to the client (RFC 6749 §4.1.2.1). Every response to the
client carries ``iss`` (RFC 9207).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from authgate.protocol import pkce
from authgate.protocol import scopes as scope_rules
from authgate.protocol.config import EngineConfig
from authgate.protocol.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    InvalidScope,
    LoginRequired,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from authgate.protocol.grants.base import check_admin_delegation, resolve_api
from authgate.protocol.ports import (
    AccessPolicy,
    ApiDirectory,
    ClientDirectory,
    ClientView,
    CodeRecord,
    CodeStore,
)
from authgate.protocol.redirect_uris import matches
from authgate.protocol.tokens import CODE_PREFIX, opaque


@dataclass(frozen=True)
class Login:
    """Who is signed in, as far as the pipeline cares."""

    user_id: str
    auth_time: datetime
    amr: tuple[str, ...]


@dataclass
class AuthorizationState:
    """What the steps learn, in order."""

    params: Mapping[str, str]
    login: Login | None
    started_at: datetime
    consented: frozenset[str] = frozenset()
    client: ClientView | None = None
    redirect_uri: str | None = None
    #: Whether the request named its redirect_uri (RFC 6749 §4.1.3: then the token
    #: request must repeat it).
    redirect_given: bool = False
    scopes: list[str] = field(default_factory=list)
    audience: str | None = None
    api_permissions: tuple[str, ...] = ()
    challenge: str | None = None
    prompts: frozenset[str] = frozenset()


# -- outcomes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowError:
    """Shown to the user: the client or redirect URI cannot be trusted with a redirect."""

    message: str


@dataclass(frozen=True)
class RedirectTo:
    url: str


@dataclass(frozen=True)
class NeedLogin:
    reason: str  # "no_session" | "prompt_login" | "max_age"


@dataclass(frozen=True)
class NeedConsent:
    client: ClientView
    scopes: list[str]


Outcome = ShowError | RedirectTo | NeedLogin | NeedConsent


class _Stop(Exception):
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


Step = Callable[["AuthorizationPipeline", AuthorizationState], Awaitable[None]]


class AuthorizationPipeline:
    def __init__(
        self,
        config: EngineConfig,
        clients: ClientDirectory,
        apis: ApiDirectory,
        policy: AccessPolicy,
        codes: CodeStore,
        digest: Callable[[str], str],
        now: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.clients = clients
        self.apis = apis
        self.policy = policy
        self.codes = codes
        self.digest = digest
        self.now = now

    async def run(self, state: AuthorizationState) -> Outcome:
        try:
            for step in STEPS:
                await step(self, state)
        except _Stop as stop:
            return stop.outcome
        except OAuthError as error:
            return self.error_redirect(state, error)
        raise AssertionError("the last step always stops")  # pragma: no cover

    async def deny(self, state: AuthorizationState) -> Outcome:
        """The user said no: ``access_denied`` to a validated client (RFC 6749 §4.1.2.1)."""
        try:
            await check_client(self, state)
            await check_redirect_uri(self, state)
        except _Stop as stop:
            return stop.outcome
        return self.error_redirect(state, AccessDenied("the user denied access"))

    def error_redirect(self, state: AuthorizationState, error: OAuthError) -> Outcome:
        if state.redirect_uri is None:
            return ShowError(error.description)
        params = {"error": error.error, "error_description": error.description}
        return RedirectTo(self._to_client(state, params))

    def _to_client(self, state: AuthorizationState, params: dict[str, str]) -> str:
        assert state.redirect_uri is not None
        if "state" in state.params:
            params["state"] = state.params["state"]
        params["iss"] = self.config.issuer  # RFC 9207 §2
        sep = "&" if urlsplit(state.redirect_uri).query else "?"
        return state.redirect_uri + sep + urlencode(params)


# -- the steps --------------------------------------------------------------------------


async def check_client(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    client_id = s.params.get("client_id")
    client = await p.clients.get(client_id) if client_id and len(client_id) <= 200 else None
    if client is None or client.disabled:
        raise _Stop(ShowError("Unknown or disabled client: check the client_id of this link."))
    s.client = client


async def check_redirect_uri(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    """Exact match (RFC 9700 §4.1.3); may be omitted only when exactly one is registered."""
    assert s.client is not None
    given = s.params.get("redirect_uri")
    s.redirect_given = given is not None
    if given is None and len(s.client.redirect_uris) == 1:
        given = s.client.redirect_uris[0]
    if given is None or not matches(s.client.redirect_uris, given):
        raise _Stop(ShowError("The redirect_uri is not registered for this client."))
    s.redirect_uri = given


async def check_response_type(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    assert s.client is not None
    if s.params.get("response_type") != "code":
        raise UnsupportedResponseType("only response_type=code is supported")
    if "authorization_code" not in s.client.grant_types:
        raise UnauthorizedClient("this client may not use the authorization code grant")
    if s.params.get("response_mode", "query") != "query":
        raise InvalidRequest("only response_mode=query is supported")
    if "request" in s.params or "request_uri" in s.params:
        raise InvalidRequest("request objects are not supported")


async def check_pkce(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    """RFC 7636 §4.3; required for public clients (RFC 9700 §2.1.1)."""
    assert s.client is not None
    s.challenge = pkce.check_challenge(
        s.params.get("code_challenge"),
        s.params.get("code_challenge_method"),
        required=s.client.public,
    )


async def check_scope(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    assert s.client is not None
    s.scopes = scope_rules.parse(s.params.get("scope"))
    api_scopes = [x for x in s.scopes if x not in scope_rules.OIDC_SCOPES]
    resource = s.params.get("resource")
    if api_scopes or resource:
        api = await resolve_api(p.apis, s.client, resource)
        check_admin_delegation(p.config, s.client, api.audience)
        s.audience, s.api_permissions = api.audience, tuple(api.permissions)
    if not s.scopes:
        raise InvalidScope("ask for at least one scope (openid, or permissions of an API)")
    for scope in s.scopes:
        if scope in scope_rules.OIDC_SCOPES:
            # openid is always allowed; the other OIDC scopes only when registered (spec §1)
            if s.client.scopes and scope != "openid" and scope not in s.client.scopes:
                raise InvalidScope(f"this client may not request scope {scope!r}")
            continue
        if scope not in s.api_permissions:
            raise InvalidScope(f"scope {scope!r} is not a permission of the requested API")
        if s.client.scopes and scope not in s.client.scopes:
            raise InvalidScope(f"this client may not request scope {scope!r}")


async def check_prompt(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    """OpenID Connect Core §3.1.2.1: ``none`` must stand alone."""
    prompts = frozenset(s.params.get("prompt", "").split())
    if not prompts <= {"none", "login", "consent", "select_account"}:
        raise InvalidRequest("prompt may be none, login, consent or select_account")
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    s.prompts = prompts
    max_age = s.params.get("max_age")
    if max_age is not None and (not max_age.isdigit() or len(max_age) > 9):
        raise InvalidRequest("max_age must be a number of seconds")


async def check_login(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    reason = None
    if s.login is None:
        reason = "no_session"
    elif "login" in s.prompts and s.login.auth_time < s.started_at:
        reason = "prompt_login"
    elif (
        "max_age" in s.params
        and s.login.auth_time < s.started_at  # a login made for this request always counts
        and p.now() - s.login.auth_time > timedelta(seconds=int(s.params["max_age"]))
    ):
        reason = "max_age"
    if reason is None:
        return
    if "none" in s.prompts:
        raise LoginRequired("the user is not signed in")
    raise _Stop(NeedLogin(reason))


async def settle_scope(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    """Spec §1: keep what the user holds; the rest is dropped, not refused."""
    assert s.login is not None
    if s.audience is None:
        return
    held = await p.policy.permissions_at_root(f"user:{s.login.user_id}")
    s.scopes = [x for x in s.scopes if x in scope_rules.OIDC_SCOPES or scope_rules.holds(held, x)]


async def check_consent(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    assert s.client is not None
    if s.client.first_party and "consent" not in s.prompts:
        return
    if set(s.scopes) <= s.consented and "consent" not in s.prompts:
        return
    if "none" in s.prompts:
        raise ConsentRequired("the user has not consented to this client and scope")
    raise _Stop(NeedConsent(s.client, s.scopes))


async def issue_code(p: AuthorizationPipeline, s: AuthorizationState) -> None:
    assert s.client is not None and s.login is not None and s.redirect_uri is not None
    code = opaque(CODE_PREFIX)
    nonce = s.params.get("nonce")
    if nonce is not None and len(nonce) > 500:
        raise InvalidRequest("the nonce is too long")
    await p.codes.save(
        CodeRecord(
            digest=p.digest(code),
            client_id=s.client.client_id,
            user_id=s.login.user_id,
            redirect_uri=s.redirect_uri if s.redirect_given else "",
            scope=scope_rules.join(s.scopes),
            audience=s.audience,
            code_challenge=s.challenge,
            nonce=nonce,
            auth_time=s.login.auth_time,
            amr=s.login.amr,
            expires_at=p.now() + p.config.code_ttl,
            used=False,
        )
    )
    raise _Stop(RedirectTo(p._to_client(s, {"code": code})))


#: The whole endpoint, in order. Login and consent are checks that stop the pipeline
#: with an interaction; the adapter resumes it afterwards.
STEPS: tuple[Step, ...] = (
    check_client,
    check_redirect_uri,
    check_response_type,
    check_pkce,
    check_scope,
    check_prompt,
    check_login,
    settle_scope,
    check_consent,
    issue_code,
)


def new_interaction_id() -> str:
    return secrets.token_urlsafe(16)
