"""SDK verification speed: local verifications per second of a typical ES256 access token.

A real ``authgate serve`` issues the token (client credentials for one API, ``orders:read``)
and publishes the keys; then, in this process and on one core, the same token is checked
by: the raw ``cryptography`` ECDSA P-256 verify (the DER signature and the signing input
prepared beforehand, so nothing but the signature check is timed), the same with the
signature's base64url decoding and R||S→DER conversion, the SDK's ``TokenVerifier.verify``
with every RFC 9068 §4 / RFC 8725 check and no cache, and the SDK with its verification
cache on (the same token again and again). Each figure is the best of ``--rounds`` runs of
``--seconds`` each, interleaved.

    .venv/bin/python bench/sdk_verify.py [--seconds 0.3] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import jwt
from authgate_sdk import TokenVerifier
from common import (
    RunningServer,
    describe_machine,
    format_table,
    machine,
    run_script,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

AUDIENCE = "https://orders.bench.example"
BATCH = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seconds",
        type=float,
        default=0.3,
        help="seconds per measured run, 0.1..5 (0.3)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, 1..10 (3)")


def _rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``call`` over about ``seconds`` (batches of ``BATCH``)."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(BATCH):
            call()
        done += BATCH
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def _token(server: RunningServer) -> tuple[str, str, str]:
    """An access token for the API, and the client that got it."""
    server.cli(
        "api", "create", "--audience", AUDIENCE, "--name", "Orders", "--permission", "orders:read"
    )
    server.cli("role", "create", "orders-reader", "--permission", "orders:read")
    created = json.loads(
        server.cli(
            "client",
            "create",
            "--name",
            "bench",
            "--grant-type",
            "client_credentials",
            "--audience",
            AUDIENCE,
            "--json",
        ).stdout
    )
    server.cli("bind", "orders-reader", "--client", created["client_id"])
    response = httpx.post(
        server.url + "/oauth/token",
        data={"grant_type": "client_credentials", "resource": AUDIENCE, "scope": "orders:read"},
        auth=(created["client_id"], created["client_secret"]),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"]), created["client_id"], created["client_secret"]


def measure(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    if not 0.1 <= args.seconds <= 5 or not 1 <= args.rounds <= 10:
        raise SystemExit("--seconds is 0.1..5 and --rounds 1..10")
    host = machine()
    token, _, _ = _token(server)
    header = jwt.get_unverified_header(token)
    if header["alg"] != "ES256":
        raise RuntimeError(f"expected an ES256 token, got {header['alg']}")

    plain = TokenVerifier(server.url, AUDIENCE)
    cached = TokenVerifier(server.url, AUDIENCE, cache_size=10_000)
    assert plain.verify(token, "orders:read").scopes == {"orders:read"}
    assert cached.verify(token, "orders:read").scopes == {"orders:read"}
    key = plain.keys.cached(header["kid"])
    assert key is not None
    public: ec.EllipticCurvePublicKey = key.key
    head, payload, signature = token.split(".")
    signing_input = f"{head}.{payload}".encode("ascii")
    ecdsa = ec.ECDSA(hashes.SHA256())

    def der_of(segment: str) -> bytes:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )

    der = der_of(signature)

    def raw_verify() -> None:
        public.verify(der, signing_input, ecdsa)

    def raw_with_decoding() -> None:
        public.verify(der_of(signature), signing_input, ecdsa)

    def sdk() -> None:
        plain.verify(token, "orders:read")

    def sdk_cached() -> None:
        cached.verify(token, "orders:read")

    async def async_cached_rate() -> float:
        count = 0
        start = time.perf_counter()
        deadline = start + args.seconds
        while True:
            for _ in range(BATCH):
                await cached.averify(token, "orders:read")
            count += BATCH
            now = time.perf_counter()
            if now >= deadline:
                return count / (now - start)

    series: dict[str, list[float]] = {
        "raw": [],
        "raw_decoding": [],
        "sdk": [],
        "sdk_cached": [],
        "sdk_cached_async": [],
    }
    gc.collect()
    for _ in range(args.rounds):
        series["raw"].append(_rate(raw_verify, args.seconds))
        series["raw_decoding"].append(_rate(raw_with_decoding, args.seconds))
        series["sdk"].append(_rate(sdk, args.seconds))
        series["sdk_cached"].append(_rate(sdk_cached, args.seconds))
        series["sdk_cached_async"].append(asyncio.run(async_cached_rate()))
    plain.close()
    cached.close()
    best = {name: max(values) for name, values in series.items()}
    raw_us = 1e6 / best["raw"]
    sdk_us = 1e6 / best["sdk"]
    return {
        "machine": host,
        "python": sys.version.split()[0],
        "token_length": len(token),
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "per_second": best,
        "all_runs": series,
        "raw_us": raw_us,
        "raw_decoding_us": 1e6 / best["raw_decoding"],
        "sdk_us": sdk_us,
        "sdk_cached_us": 1e6 / best["sdk_cached"],
        "overhead_pct": (sdk_us / raw_us - 1) * 100,
        "overhead_vs_decoding_pct": (sdk_us * best["raw_decoding"] / 1e6 - 1) * 100,
    }


def render(result: dict[str, Any]) -> str:
    best = result["per_second"]
    rows = [
        [
            "raw cryptography ECDSA verify (DER prepared)",
            f"{best['raw']:,.0f}",
            f"{result['raw_us']:.1f}",
            "",
        ],
        [
            "raw, with base64url + R||S→DER",
            f"{best['raw_decoding']:,.0f}",
            f"{result['raw_decoding_us']:.1f}",
            "",
        ],
        [
            "SDK verify, no cache (every check)",
            f"{best['sdk']:,.0f}",
            f"{result['sdk_us']:.1f}",
            f"+{result['overhead_pct']:.0f}% (+{result['overhead_vs_decoding_pct']:.0f}% vs decoding)",
        ],
        [
            "SDK verify, cache on",
            f"{best['sdk_cached']:,.0f}",
            f"{result['sdk_cached_us']:.2f}",
            "",
        ],
        [
            "SDK averify, cache on (in a loop)",
            f"{best['sdk_cached_async']:,.0f}",
            f"{1e6 / best['sdk_cached_async']:.2f}",
            "",
        ],
    ]
    head = (
        f"One ES256 access token ({result['token_length']} bytes) from authgate serve, "
        f"verified on one core; best of {result['rounds']} × {result['seconds_per_run']} s. "
        f"Python {result['python']}\n" + describe_machine(result["machine"])
    )
    table = format_table(["what", "per second", "µs each", "SDK overhead"], rows)
    goals = (
        f"goals: overhead ≤ 50% → {result['overhead_pct']:.0f}%; "
        f"cached ≥ 200,000/s → {best['sdk_cached']:,.0f}/s"
    )
    return head + "\n" + table + "\n" + goals


def main(argv: list[str] | None = None) -> int:
    return run_script(__doc__.split("\n\n")[0], add_arguments, measure, render, argv)


if __name__ == "__main__":
    sys.exit(main())
