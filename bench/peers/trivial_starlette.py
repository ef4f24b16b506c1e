"""The HTTP ceiling for a decision endpoint: parse the JSON body, answer ``{"decision": true}``.

No authentication, no lookup: what Starlette and uvicorn cost for one small JSON POST. Run
with ``uvicorn trivial_starlette:app --app-dir bench/peers --workers N``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def evaluation(request: Request) -> JSONResponse:
    await request.json()
    return JSONResponse({"decision": True})


app = Starlette(routes=[Route("/access/v1/evaluation", evaluation, methods=["POST"])])
