"""Benchmark the connector paths: a full sync over HTTP, and webhook deliveries.

    python bench/sync.py --entries 100000 [--db sqlite:///bench.db] [--deliveries 2000]

Sync: a Harvest sandbox holding N entries runs in process on loopback (its rate limit
off: this measures billsync, not Harvest's 100 requests per 15 s); a connection to it
is configured as a workspace would (credentials stored encrypted) and synced into a
fresh workspace with `pipeline.sync.sync`, exactly as `billsync sync` does: a full
read page by page (2,000 entries a page), each page converted, ingested with its raw
payloads and committed, then the reconcile sweep. `seconds` is that call alone
(building the sandbox is not counted).

Webhooks: billsync's receiver (`api.webhooks.create_app`, served with `serve_app`) and
a Toggl sandbox (signed deliveries that carry the entry) run on loopback; the receiver
is subscribed as Toggl does it (a validated ping), then `--threads` threads each add
entries at the sandbox, every add posting one `created` delivery. The receiver verifies
and stores each delivery before answering 200, and ingests in the background.
`webhook_deliveries_per_s`: deliveries answered 200 per second of sending, first send
to last answer. Latency, receipt to stored: for each entry, from the sandbox's send
time (the delivery's own `created_at`, stamped just before it is posted) to the
entry's `updated_at` in time_entries (stamped by the ingest, in the transaction that
makes it visible); both from this machine's clock, so no polling granularity is added.
The run waits until every delivered entry is stored, then reports p50 and p99 in ms.

Prints one JSON line; peak RSS is the process's (resource.getrusage ru_maxrss).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from billsync.api.webhooks import create_app
from billsync.domain.connections import Connection
from billsync.pipeline.sync import sync
from billsync.pipeline.workspace import apply
from billsync.sandbox.base import Delivery, TimeSandbox, serve, serve_app
from billsync.sandbox.platforms.harvest import HarvestSandbox
from billsync.sandbox.registry import all_sandboxes
from billsync.sandbox.seed import generate
from billsync.store import secrets
from billsync.store.db import Store, open_store
from billsync.store.tables import time_entries

ACTOR = "bench"


def connect(store: Store, code: str, sandbox: TimeSandbox, url: str, webhooks: bool) -> None:
    """Configure connection `code` on the sandbox as a workspace would."""
    setup = sandbox.setup(url)
    credentials = {name: "stored" for name in setup.credentials}
    if webhooks:
        credentials["webhook_secret"] = "stored"
    connection = Connection(
        code=code,
        platform=sandbox.platform,
        base_url=url,
        credentials=credentials,
        settings=dict(setup.settings),
        timezone="Europe/Oslo",
    )
    apply(store, "connections.yaml", {"connection": [connection]}, ACTOR)
    with store.transaction() as tx:
        for name, value in setup.credentials.items():
            secrets.put(tx, code, name, value)


def bench_sync(store: Store, entries: int, seed: int) -> dict[str, Any]:
    sandbox = HarvestSandbox(seed=seed, items=generate(entries, seed), rate_limit=False)
    with serve(sandbox) as url:
        connect(store, "harvest", sandbox, url, webhooks=False)
        clock = time.perf_counter()
        summary = sync(store, "harvest", ACTOR)
        seconds = time.perf_counter() - clock
    assert summary.new == entries and summary.rejected == 0, summary
    return {
        "entries": entries,
        "seconds": round(seconds, 2),
        "entries_per_s": round(entries / seconds),
        "requests": sandbox.requests,
    }


def bench_webhooks(
    store: Store, platform: str, deliveries: int, threads: int, seed: int
) -> dict[str, Any]:
    cls = all_sandboxes()[platform]
    assert issubclass(cls, TimeSandbox), f"{platform} has no time sandbox"
    sandbox = cls(seed=seed, rate_limit=None)  # type: ignore[call-arg]
    items = generate(deliveries, seed + 1, start=dt.datetime.now(dt.UTC).date())
    with serve(sandbox) as url, serve_app(create_app(store), "billsync receiver") as base:
        connect(store, platform, sandbox, url, webhooks=True)
        receiver = f"{base}/webhooks/{platform}"
        secret = sandbox.subscribe(receiver)
        assert secret is not None, f"the {platform} sandbox took no subscription"
        with store.transaction() as tx:
            secrets.put(tx, platform, "webhook_secret", secret)
        sandbox.deliveries.clear()  # a validation ping

        changed_at: dict[str, dt.datetime] = {}

        def send(share: list[Any]) -> None:
            for item in share:
                at = dt.datetime.now(dt.UTC)
                changed_at[sandbox.add(item)] = at

        workers = [threading.Thread(target=send, args=(items[i::threads],)) for i in range(threads)]
        clock = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        sending = time.perf_counter() - clock
        sent = {}
        for delivery in sandbox.deliveries:
            if delivery.status == 200:
                entry_id, at = SENT_AT[platform](delivery, changed_at)
                sent[entry_id] = at
        stored = _wait_for(store, platform, set(sent), timeout=120)
    latencies = sorted((stored[i] - sent[i]).total_seconds() * 1000 for i in sent if i in stored)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if latencies else []
    return {
        "webhook_deliveries": deliveries,
        "webhook_accepted": len(sent),
        "webhook_stored": len(stored),
        "webhook_threads": threads,
        "webhook_deliveries_per_s": round(len(sent) / sending),
        "webhook_latency_p50_ms": round(cuts[49], 1) if cuts else None,
        "webhook_latency_p99_ms": round(cuts[98], 1) if cuts else None,
    }


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _toggl_sent(delivery: Delivery, _: dict[str, dt.datetime]) -> tuple[str, dt.datetime]:
    """Toggl's envelope: the entry in `payload`, the send time in `created_at`."""
    body = json.loads(delivery.body)
    return str(body["payload"]["id"]), _instant(body["created_at"])


def _clockify_sent(
    delivery: Delivery, changed_at: dict[str, dt.datetime]
) -> tuple[str, dt.datetime]:
    """Clockify posts the entry itself with no send time: the moment the entry was
    added at the sandbox (which posts the delivery at once, in the same call)."""
    entry_id = str(json.loads(delivery.body)["id"])
    return entry_id, changed_at[entry_id]


SENT_AT = {"toggl": _toggl_sent, "clockify": _clockify_sent}


def _wait_for(store: Store, code: str, ids: set[str], timeout: float) -> dict[str, dt.datetime]:
    """The stored entries' ingest stamps, once all of `ids` are stored (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        with store.reading() as tx:
            rows = tx.conn.execute(
                select(time_entries.c.external_id, time_entries.c.updated_at).where(
                    time_entries.c.workspace_id == tx.workspace_id,
                    time_entries.c.source == code,
                )
            ).all()
        found = {r.external_id: _utc(r.updated_at) for r in rows if r.external_id in ids}
        if len(found) == len(ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--deliveries", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--webhooks", choices=sorted(SENT_AT), default="toggl")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        stamp = time.time_ns()
        store = open_store(url, f"bench-sync-{stamp}")
        result: dict[str, Any] = {"backend": store.engine.dialect.name}
        result.update(bench_sync(store, args.entries, args.seed))
        if args.deliveries:
            hooks_store = open_store(url, f"bench-webhooks-{stamp}")
            result.update(
                bench_webhooks(hooks_store, args.webhooks, args.deliveries, args.threads, args.seed)
            )
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        store.engine.dispose()


if __name__ == "__main__":
    main()
