"""Client registration rules, checked without a database."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import ECKey, OKPKey, RSAKey

from authgate.clients.validation import (
    ClientSpec,
    check_audiences,
    check_jwks,
    check_jwks_uri,
    check_redirect_uri,
    check_scopes,
    check_spec,
    check_ttl,
)
from authgate.errors import InvalidInput

EC_PUBLIC = ECKey.generate_key("P-256").as_dict(private=False)
EC_PRIVATE = ECKey.generate_key("P-256").as_dict(private=True)
OKP_PUBLIC = OKPKey.generate_key("Ed25519").as_dict(private=False)


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/callback",
        "https://app.example.com:8443/cb?tenant=a",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:51234/cb",
        "http://[::1]:8080/cb",
        "http://localhost:3000/cb",
        "com.example.app:/oauth2redirect",
        "com.example.app://callback",
    ],
    ids=[
        "https",
        "https-port-query",
        "loopback-v4",
        "loopback-port",
        "loopback-v6",
        "localhost",
        "private-use",
        "private-use-double-slash",
    ],
)
def test_good_redirect_uris_pass(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("/callback", "not an absolute URI"),
        ("app.example.com/cb", "not an absolute URI"),
        ("https://app.example.com/cb#frag", "must not have a fragment"),
        ("https://app.example.com/cb#", "must not have a fragment"),
        ("http://app.example.com/cb", "http on a host that is not loopback"),
        ("http://10.0.0.1/cb", "http on a host that is not loopback"),
        ("myapp:/cb", "private-use scheme with a dot"),
        ("javascript:alert(1)", "private-use scheme with a dot"),
        ("https:///cb", "has no host"),
        ("https://user:pw@app.example.com/cb", "user name or password"),
        ("https://app.example.com/a b", "printable ASCII"),
        ("https://app.example.com:99999/cb", "not a valid URI"),
        ("https://" + "a" * 2000 + ".com/", "at most 2000"),
    ],
    ids=[
        "relative",
        "no-scheme",
        "fragment",
        "empty-fragment",
        "http-remote",
        "http-private-ip",
        "scheme-without-dot",
        "javascript",
        "no-host",
        "userinfo",
        "space",
        "bad-port",
        "long",
    ],
)
def test_bad_redirect_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_redirect_uri(uri)


def test_scopes_are_rfc6749_scope_tokens() -> None:
    assert check_scopes("openid  orders:read openid") == ("openid", "orders:read")
    assert check_scopes(["a", "b"]) == ("a", "b")
    assert check_scopes("") == ()
    for bad in ['say"hi', "back\\slash", "tab\there", "é"]:
        with pytest.raises(InvalidInput, match="not a scope token"):
            check_scopes([bad])


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ("orders", "not an absolute URI"),
        ("https://orders.example.com#x", "fragment"),
        ("https://", "not an absolute URI|has no host"),
        ("https://orders example", "printable ASCII"),
    ],
    ids=["relative", "fragment", "empty-host", "space"],
)
def test_bad_audiences_are_refused(audience: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_audiences([audience])


def test_audiences_keep_order_and_fit_the_column() -> None:
    assert check_audiences(["https://b.example", "urn:example:a", "https://b.example"]) == (
        "https://b.example",
        "urn:example:a",
    )
    many = [f"https://api{i}.example.com/{'x' * 40}" for i in range(10)]
    with pytest.raises(InvalidInput, match="at most 500 characters together"):
        check_audiences(many)


def test_public_jwks_pass_and_are_copied() -> None:
    jwks = {"keys": [EC_PUBLIC, OKP_PUBLIC]}
    checked = check_jwks(jwks)
    assert checked == jwks
    assert checked is not jwks


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ({"keys": [EC_PRIVATE]}, 'private or symmetric key material \\("d"\\)'),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "private or symmetric"),
        ({"keys": [{"kty": "oct"}]}, "private or symmetric"),
        ({"keys": []}, "non-empty"),
        ({"kty": "EC"}, "JWK Set"),
        ([EC_PUBLIC], "JWK Set"),
        ({"keys": ["x"]}, "not a JSON object"),
        ({"keys": [{"kty": "XYZ"}]}, "RSA, EC or OKP"),
        ({"keys": [{**EC_PUBLIC, "use": "enc"}]}, "sign"),
        ({"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}, "not a valid public key"),
        ({"keys": [EC_PUBLIC] * 21}, "at most 20 keys"),
    ],
    ids=[
        "private-ec",
        "symmetric",
        "oct-without-k",
        "empty",
        "single-key",
        "list",
        "not-object",
        "unknown-kty",
        "enc-key",
        "malformed",
        "too-many",
    ],
)
def test_bad_jwks_are_refused(jwks: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_jwks(jwks)


def test_private_rsa_and_short_rsa_keys_are_refused() -> None:
    private = RSAKey.generate_key(2048).as_dict(private=True)
    with pytest.raises(InvalidInput, match="PUBLIC keys only"):
        check_jwks({"keys": [private]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library warns about the short key, rightly
        short = RSAKey.generate_key(1024).as_dict(private=False)
    with pytest.raises(InvalidInput, match="1024-bit RSA key"):
        check_jwks({"keys": [short]})


def test_jwks_uri_must_be_https() -> None:
    assert check_jwks_uri("https://app.example.com/jwks.json")
    with pytest.raises(InvalidInput, match="must be an https URL"):
        check_jwks_uri("http://127.0.0.1/jwks.json")


def test_durations() -> None:
    assert check_ttl("15m", "x") == timedelta(minutes=15)
    assert check_ttl(None, "x") is None
    with pytest.raises(InvalidInput, match="access: 'soon' is not a duration"):
        check_ttl("soon", "access")
    with pytest.raises(InvalidInput, match="greater than zero"):
        check_ttl("0s", "x")
    with pytest.raises(InvalidInput, match="2h is longer than the limit of 1h"):
        check_ttl("2h", "x", timedelta(hours=1))


@pytest.mark.parametrize(
    ("spec", "grants", "method"),
    [
        (ClientSpec(name="svc"), ("client_credentials",), "client_secret_basic"),
        (
            ClientSpec(name="web", redirect_uris=("https://a.example/cb",)),
            ("authorization_code", "refresh_token"),
            "client_secret_basic",
        ),
        (
            ClientSpec(name="spa", public=True, redirect_uris=("https://a.example/cb",)),
            ("authorization_code", "refresh_token"),
            "none",
        ),
    ],
    ids=["service", "web", "public"],
)
def test_defaults(spec: ClientSpec, grants: tuple[str, ...], method: str) -> None:
    checked = check_spec(spec)
    assert checked.grant_types == grants
    assert checked.auth_method == method


CB = ("https://a.example/cb",)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ClientSpec(name=" "), "client name must be 1-200 printable"),
        (ClientSpec(name="x" * 201), "client name must be 1-200 printable"),
        (ClientSpec(name="x", auth_method="magic"), "unknown auth method 'magic'"),
        (
            ClientSpec(name="x", public=True, redirect_uris=CB, auth_method="client_secret_post"),
            "a public client has no credential",
        ),
        (ClientSpec(name="x", auth_method="none"), "only for public clients"),
        (ClientSpec(name="x", grant_types=("password",)), "unknown grant type 'password'"),
        (ClientSpec(name="x", grant_types=()), "at least one grant type"),
        (
            ClientSpec(name="x", public=True, grant_types=("client_credentials",)),
            "public client cannot use client_credentials",
        ),
        (ClientSpec(name="x", public=True), "needs a redirect URI or explicit grant types"),
        (
            ClientSpec(name="x", grant_types=("authorization_code",)),
            "needs at least one redirect URI",
        ),
        (ClientSpec(name="x", auth_method="private_key_jwt"), "needs the client's public keys"),
        (
            ClientSpec(
                name="x",
                auth_method="private_key_jwt",
                jwks={"keys": [EC_PUBLIC]},
                jwks_uri="https://a.example/jwks",
            ),
            "not both",
        ),
        (ClientSpec(name="x", jwks={"keys": [EC_PUBLIC]}), "used only with the private_key_jwt"),
        (ClientSpec(name="x", access_token_ttl="2h"), "longer than the limit of 1h"),
    ],
    ids=[
        "blank-name",
        "long-name",
        "auth-method",
        "public-secret",
        "none-confidential",
        "grant",
        "no-grant",
        "public-cc",
        "public-default",
        "code-no-uri",
        "pkjwt-no-keys",
        "both-key-sources",
        "jwks-without-pkjwt",
        "ttl-over-key-lifetime",
    ],
)
def test_inconsistent_registrations_are_refused(spec: ClientSpec, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_spec(spec, max_access_token_ttl=timedelta(hours=1))
