"""TOTP (RFC 6238) second factor at login and enrolment over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pyotp
import pytest

from authgate.audit.events import CLI_CONTEXT as CLI
from authgate.clock import FrozenClock
from authgate.container import Container
from tests.web.conftest import PASSWORD, csrf_token, login


@pytest.fixture
async def enrolled(container: Container) -> tuple[str, str, list[str]]:
    user = await container.users.create("mallory", CLI, password=PASSWORD)
    enrolment = await container.mfa.activate(user.id, container.mfa.new_secret(), CLI)
    return user.id, enrolment.secret, enrolment.recovery_codes


async def _submit_code(client: httpx.AsyncClient, code: str) -> httpx.Response:
    token = await csrf_token(client, "/login/mfa")
    return await client.post("/login/mfa", data={"code": code, "csrf_token": token})


def _code(secret: str, clock: FrozenClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + timedelta(seconds=30 * steps))


async def test_password_alone_is_not_enough(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]]
) -> None:
    response = await login(client, "mallory", PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login/mfa")
    assert (await client.get("/account")).status_code == 303  # not signed in yet
    page = await client.get("/login/mfa")
    assert 'autocomplete="one-time-code"' in page.text


async def test_valid_code_completes_login_with_otp_amr(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]], clock: FrozenClock
) -> None:
    await login(client, "mallory", PASSWORD)
    response = await _submit_code(client, _code(enrolled[1], clock))
    assert response.status_code == 303
    account = await client.get("/account")
    assert account.status_code == 200
    assert "pwd + otp" in account.text


@pytest.mark.parametrize("steps", [-1, 1], ids=["previous-step", "next-step"])
async def test_one_step_of_clock_skew_is_accepted(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]], clock: FrozenClock, steps: int
) -> None:
    await login(client, "mallory", PASSWORD)
    assert (await _submit_code(client, _code(enrolled[1], clock, steps))).status_code == 303


async def test_codes_two_steps_away_are_refused(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]], clock: FrozenClock
) -> None:
    await login(client, "mallory", PASSWORD)
    response = await _submit_code(client, _code(enrolled[1], clock, -2))
    assert response.status_code == 401
    assert "not valid" in response.text


async def test_a_code_cannot_be_used_twice(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]], clock: FrozenClock
) -> None:
    """RFC 6238 §5.2: the verifier must not accept the second attempt of the same OTP."""
    code = _code(enrolled[1], clock)
    await login(client, "mallory", PASSWORD)
    assert (await _submit_code(client, code)).status_code == 303
    client.cookies.clear()
    await login(client, "mallory", PASSWORD)
    assert (await _submit_code(client, code)).status_code == 401
    # An earlier step than the one used is refused as well.
    assert (await _submit_code(client, _code(enrolled[1], clock, -1))).status_code == 401


async def test_recovery_code_works_once(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]]
) -> None:
    recovery = enrolled[2][0]
    await login(client, "mallory", PASSWORD)
    assert (await _submit_code(client, recovery.upper().replace("-", " "))).status_code == 303
    client.cookies.clear()
    await login(client, "mallory", PASSWORD)
    assert (await _submit_code(client, recovery)).status_code == 401
    assert (await _submit_code(client, enrolled[2][1])).status_code == 303


async def test_wrong_codes_are_throttled(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]]
) -> None:
    await login(client, "mallory", PASSWORD)
    for _ in range(5):
        assert (await _submit_code(client, "000000")).status_code == 401
    assert (await _submit_code(client, "000000")).status_code == 429


async def test_enrolment_through_the_page(
    container: Container, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await container.users.create("trent", CLI, password=PASSWORD)
    await login(client, "trent", PASSWORD)
    page = await client.get("/account/mfa")
    assert page.status_code == 200
    assert "data:image/svg+xml;base64," in page.text
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
    pending = re.search(r'name="pending" value="([0-9a-f]+)"', page.text)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert secret and pending and token
    wrong = await client.post(
        "/account/mfa",
        data={"code": "123456", "pending": pending.group(1), "csrf_token": token.group(1)},
    )
    assert wrong.status_code == 400
    assert not (await container.users.get("trent")).mfa_enabled
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    done = await client.post(
        "/account/mfa",
        data={"code": code, "pending": pending.group(1), "csrf_token": token.group(1)},
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10
    assert (await container.users.get("trent")).mfa_enabled
    # The code that confirmed enrolment cannot be replayed to log in.
    client.cookies.clear()
    await login(client, "trent", PASSWORD)
    assert (await _submit_code(client, code)).status_code == 401
    assert (await _submit_code(client, codes[0])).status_code == 303


async def test_enrolment_secret_cannot_be_swapped_for_another_user(
    container: Container, client: httpx.AsyncClient
) -> None:
    """The pending secret is sealed to the user it was made for."""
    other = await container.users.create("victim", CLI, password=PASSWORD)
    sealed_for_other = container.mfa.seal_pending(other.id, container.mfa.new_secret())
    await container.users.create("attacker", CLI, password=PASSWORD)
    await login(client, "attacker", PASSWORD)
    token = await csrf_token(client, "/account/mfa")
    response = await client.post(
        "/account/mfa", data={"code": "123456", "pending": sealed_for_other, "csrf_token": token}
    )
    assert response.status_code == 400
    assert "belongs to another account" in response.text


async def test_replacing_a_factor_needs_the_current_one(
    container: Container,
    client: httpx.AsyncClient,
    enrolled: tuple[str, str, list[str]],
    clock: FrozenClock,
) -> None:
    """A stolen session alone cannot swap the second factor (or mint recovery codes)."""
    user_id, old_secret, recovery = enrolled
    await login(client, "mallory", PASSWORD)
    await _submit_code(client, _code(old_secret, clock))
    page = await client.get("/account/mfa")
    assert 'name="current_code"' in page.text
    new_secret = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
    pending = re.search(r'name="pending" value="([0-9a-f]+)"', page.text)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert new_secret and pending and token
    form = {
        "code": pyotp.TOTP(new_secret.group(1)).at(clock.now()),
        "pending": pending.group(1),
        "csrf_token": token.group(1),
    }
    refused = await client.post("/account/mfa", data={**form, "current_code": "000000"})
    assert refused.status_code == 401
    assert await container.mfa.remaining_recovery_codes(user_id) == 10
    accepted = await client.post("/account/mfa", data={**form, "current_code": recovery[0]})
    assert accepted.status_code == 200
    assert len(re.findall(r"<li><code>", accepted.text)) == 10


async def test_altered_enrolment_form_shows_the_page_again(
    client: httpx.AsyncClient, container: Container
) -> None:
    await container.users.create("oscar", CLI, password=PASSWORD)
    await login(client, "oscar", PASSWORD)
    token = await csrf_token(client, "/account/mfa")
    response = await client.post(
        "/account/mfa", data={"code": "123456", "pending": "00ff", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "Start again" in response.text
    assert 'name="pending"' in response.text


@pytest.mark.parametrize(
    "code",
    ["\u0661\u0662\u0663\u0664\u0665\u0666", "\uff11\uff12\uff13\uff14\uff15\uff16"],
    ids=["arabic-indic", "fullwidth"],
)
async def test_non_ascii_digits_are_just_wrong(
    client: httpx.AsyncClient, enrolled: tuple[str, str, list[str]], code: str
) -> None:
    await login(client, "mallory", PASSWORD)
    response = await _submit_code(client, code)
    assert response.status_code == 401
