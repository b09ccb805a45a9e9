"""Benchmark `billsync apply` on a large roster.

    python bench/apply.py --people 9091 [--db sqlite:///bench.db]

The demo firm scaled to N people (the workspace `bench/pipeline.py --entries 1000000`
applies), applied to a fresh workspace three times, as `billsync apply` does: first
every record is created, then the same records change nothing, then every other
person is renamed (a new version of each, with its diff and audit event). Prints one
JSON line with the records and the seconds of each apply (building the records is not
counted).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from billsync.demo.timegen import scaled_workspace
from billsync.pipeline.workspace import apply
from billsync.store.db import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=9091)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    roster = scaled_workspace(args.people)
    people = roster["person"]
    renamed = [p.model_copy(update={"name": f"{p.name} (renamed)"}) for p in people[::2]]
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}", "bench-apply")
        seconds = {}
        changed = {}
        for name, records in (
            ("create", roster),
            ("unchanged", roster),
            ("rename half", {"person": renamed}),
        ):
            clock = time.perf_counter()
            result = apply(store, "roster.yaml", records, "bench")
            seconds[name] = round(time.perf_counter() - clock, 3)
            changed[name] = len(result.changes)
        store.close()
    print(
        json.dumps(
            {
                "records": sum(map(len, roster.values())),
                "backend": store.engine.dialect.name,
                "changed": changed,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
