"""`POST /webhooks/{connection}`: the receiver every platform delivers to.

The raw body is verified with the platform's own scheme and stored (committed) before
the 2xx; processing runs after the answer, by one caller per connection at a time (a
task that finds the connection busy leaves its event to the one at it: see
pipeline/webhooks.py). Forged: 401, malformed: 400, unknown connection: 404, and
nothing stored for any of them; bad input (a header, a body, a code in the URL) is
never a 500.
"""

from __future__ import annotations

from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from billsync.connectors.base import WebhookRequest
from billsync.pipeline.connections import Hooks
from billsync.pipeline.webhooks import Refused, accept, process
from billsync.store.db import Store

MAX_BODY = 1 << 20  # bytes; no platform sends a time event anywhere near this


def create_app(store: Store, hooks: Hooks | None = None) -> FastAPI:
    app = FastAPI(title="billsync", summary="Webhook receivers")

    @app.post("/webhooks/{connection}", status_code=200)
    async def receive(connection: str, request: Request, background: BackgroundTasks) -> Response:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"error": "delivery too large"}, status_code=413)
        delivery = WebhookRequest(
            str(request.url),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            dict(request.query_params),
        )
        try:
            accepted = await run_in_threadpool(accept, store, connection, delivery, hooks)
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        if accepted.reply is not None:
            reply = accepted.reply
            return Response(
                reply.body, reply.status, dict(reply.headers), media_type=reply.media_type
            )
        background.add_task(process, store, connection, hooks)
        return JSONResponse({"received": accepted.event_id})

    return app
