"""An unmodified HTTP service (it knows nothing of Writ): a customer database API.

It appends every request it serves to a file, so tests can prove a denied request
never reached it. Run: python _upstream.py PORT LOGFILE
"""

from __future__ import annotations

import asyncio
import json
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

LOG = sys.argv[2] if len(sys.argv) > 2 else "/dev/null"


def served(request: Request, body: bytes) -> None:
    with open(LOG, "a") as handle:
        handle.write(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "headers": {k: v for k, v in request.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                }
            )
            + "\n"
        )


async def customer(request: Request) -> JSONResponse:
    served(request, await request.body())
    return JSONResponse(
        {"id": request.path_params["id"], "name": "Ada Example"},
        headers={"connection": "close, x-internal", "x-internal": "secret"},
    )


async def export(request: Request) -> JSONResponse:
    served(request, await request.body())
    return JSONResponse({"rows": 100000})


async def slow(request: Request) -> JSONResponse:
    served(request, await request.body())
    await asyncio.sleep(3)  # the behaviour under test: an upstream that does not answer in time
    return JSONResponse({"late": True})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(
    routes=[
        Route("/customers/{id}", customer, methods=["GET", "POST"]),
        Route("/export", export, methods=["POST"]),
        Route("/slow", slow),
        Route("/health", health),
    ]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
