"""ACME's customer database API: an unmodified service that knows nothing of Writ.

    python -m writ.demo.customer_api --port 9001

It sits behind ``writ gateway``; only requests the gateway allowed ever reach it.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CUSTOMERS = {str(i): {"id": str(i), "name": f"Customer {i}", "tier": "gold" if i % 3 else "std"}
             for i in range(1, 51)}


async def customer(request: Request) -> JSONResponse:
    """One customer."""
    found = CUSTOMERS.get(request.path_params["id"])
    return JSONResponse(found or {"error": "not found"}, status_code=200 if found else 404)


async def export(request: Request) -> JSONResponse:
    """Every customer: exactly what an exfiltration would want."""
    return JSONResponse({"rows": list(CUSTOMERS.values())})


async def health(request: Request) -> JSONResponse:
    """Liveness."""
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/customers/{id}", customer), Route("/export", export,
                                                                 methods=["POST"]),
                        Route("/health", health)])


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=opts.port, log_level="warning")


if __name__ == "__main__":
    main()
