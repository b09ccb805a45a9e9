"""Verify a billsync audit export without billsync: Python's standard library only.

    billsync audit export -o audit.jsonl
    python verify_audit.py audit.jsonl

Prints "intact: N events" and exits 0, or names the first broken event and exits 1.
The rules are those of docs/export.md ("The audit export").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys

GENESIS = "0" * 64


def stamp(at: str) -> str:
    """The event time as hashed: UTC, no offset, ISO 8601 with microseconds."""
    moment = dt.datetime.fromisoformat(at)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def digest(event: dict) -> str:
    body = json.dumps(
        [
            event["prev_hash"],
            event["seq"],
            stamp(event["at"]),
            event["actor"],
            event["action"],
            event["subject"],
            event["before"],
            event["after"],
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def verify(lines: list[str]) -> str | None:
    """The first problem, or None when the chain is intact."""
    expected_seq, prev = 1, GENESIS
    for line in lines:
        event = json.loads(line)
        if event["seq"] != expected_seq:
            return f"event {expected_seq} is missing or out of order (found {event['seq']})"
        if event["prev_hash"] != prev:
            return f"event {event['seq']} does not follow event {event['seq'] - 1}"
        if digest(event) != event["hash"]:
            return f"event {event['seq']} was edited after it was written"
        expected_seq, prev = event["seq"] + 1, event["hash"]
    return None


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]
    problem = verify(lines)
    if problem:
        print(f"broken: {problem}")
        return 1
    print(f"intact: {len(lines)} events; last hash {json.loads(lines[-1])['hash'] if lines else GENESIS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
