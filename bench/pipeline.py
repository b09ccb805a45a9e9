"""Benchmark the real path: import, map, validate, rate, cap, draft.

    python bench/pipeline.py --entries 100000 [--db sqlite:///bench.db] [--clean]

Generates N entries deterministically for the demo firm scaled to N (the same
generator as `billsync demo`), writes them as one import CSV per source (harvest,
payroll), then runs the imports and the pipeline exactly as the CLI does, into a fresh
workspace. Prints one JSON line: seconds per stage, entries per second end to end, and
the peak resident memory of the measured path (generating the data is not part of it),
sampled every 20 ms: of this process, of the second processes (the one that parses a
large import file, the one that rates batches of a large run too), and of all of them
at once. The "wait" stage is the time the run spent giving batches to the second
process, taking what it rated, and waiting for its last ones. "commit" is the rest
of the run: writing its transaction out, and waiting for the copy of the write-ahead
log into the database file that the import and the run left to a thread. CPU seconds,
of this process and of the second processes, drift less with the machine's speed than
the wall clock does. "machine_seconds" is that speed, before and after the measured
path: the time a fixed loop of plain Python takes (this machine's speed has halved and
come back within a day), so figures taken at different hours can be compared; and
"memory_seconds", the time it takes to walk and sort objects scattered in memory, as
the pipeline's own work does. On a slow day the first can hold while the second, and
the pipeline's CPU seconds, more than double.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from operator import itemgetter
from pathlib import Path

from billsync.demo.timegen import SOURCES, generate_count, workspace_for_rows, write_by_source
from billsync.domain.canonical import Defaults
from billsync.pipeline.files import import_file
from billsync.pipeline.run import run
from billsync.pipeline.workspace import apply
from billsync.store.db import open_store

TODAY = dt.date(2026, 11, 25)  # the generator's reference day: three months of time


def _machine_seconds() -> float:
    """How long ten million additions in plain Python take here, now."""
    clock = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return round(time.perf_counter() - clock, 2)


def _memory_seconds() -> float:
    """How long reading and sorting 300,000 small objects in a shuffled order takes
    here, now: each step lands somewhere else in memory, as in the pipeline's passes
    over entries and portions, and the machine's caches decide its speed."""
    objects = [(i, str(i)) for i in range(300_000)]
    random.Random(7).shuffle(objects)
    clock = time.perf_counter()
    sum(map(len, map(itemgetter(1), objects)))
    objects.sort()
    return round(time.perf_counter() - clock, 2)


class _Sampler(threading.Thread):
    """Peaks of this process's resident memory, its children's, and theirs at once."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.own = self.children_peak = self.peak = 0
        self.stop = threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.children = f"/proc/self/task/{os.getpid()}/children"

    def _resident(self, pid: str) -> int:
        try:
            with open(f"/proc/{pid}/statm") as statm:
                return int(statm.read().split()[1]) * self.page
        except (FileNotFoundError, ProcessLookupError):
            return 0  # it just ended

    def run(self) -> None:
        while not self.stop.wait(0.02):
            with open(self.children) as listed:
                children = sum(map(self._resident, listed.read().split()))
            own = self._resident("self")
            self.own = max(self.own, own)
            self.children_peak = max(self.children_peak, children)
            self.peak = max(self.peak, own + children)

    def mb(self, size: int) -> int:
        return round(size / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--clean", action="store_true", help="no messy rows")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.db or f"sqlite:///{folder / 'bench.db'}"
        records = workspace_for_rows(args.entries)
        paths = {source: folder / f"{source}.csv" for source in SOURCES}
        clock = time.perf_counter()
        rows = generate_count(args.entries, args.seed, records=records, messy=not args.clean)
        write_by_source(rows, paths)
        generated = time.perf_counter() - clock

        speed_before, memory_before = _machine_seconds(), _memory_seconds()
        sampler = _Sampler()
        sampler.start()
        store = open_store(url, f"bench-{time.time_ns()}")
        apply(store, "bench", records, "bench")
        clock, cpu = time.perf_counter(), os.times()
        imported = [
            import_file(
                store, path, source=source, actor="bench", defaults=Defaults(), partial=True
            )
            for source, path in paths.items()
        ]
        import_seconds = time.perf_counter() - clock
        report = run(store, today=TODAY, actor="bench")
        store.close()  # after the last checkpoint: the database file holds everything
        total = time.perf_counter() - clock  # the run's commit too, which no stage holds
        used = os.times()
        sampler.stop.set()
        speed_after, memory_after = _machine_seconds(), _memory_seconds()
        print(
            json.dumps(
                {
                    "entries": args.entries,
                    "backend": store.engine.dialect.name,
                    # Builds differ: Debian's (profile-guided, libpython linked in) ran
                    # this up to a sixth faster than pyenv's default build, on one machine.
                    "python": f"{platform.python_version()} {sys.executable}",
                    "imported": sum(result.counts.new for result in imported),
                    "quarantined": sum(len(result.quarantined) for result in imported),
                    "invoices": len(report.drafted),
                    "findings": sum(report.findings.values()),
                    "seconds": {
                        "generate (not counted)": round(generated, 2),
                        "import": round(import_seconds, 2),
                        **report.seconds,
                        "commit": round(total - import_seconds - sum(report.seconds.values()), 2),
                    },
                    "total_seconds": round(total, 2),
                    "entries_per_s": round(args.entries / total),
                    "cpu_seconds": {
                        "this process": round(used.user + used.system - cpu.user - cpu.system, 2),
                        "second processes": round(
                            used.children_user
                            + used.children_system
                            - cpu.children_user
                            - cpu.children_system,
                            2,
                        ),
                    },
                    "peak_rss_mb": sampler.mb(sampler.own),
                    "second_process_peak_rss_mb": sampler.mb(sampler.children_peak),
                    "all_at_once_peak_rss_mb": sampler.mb(sampler.peak),
                    "machine_seconds": {"before": speed_before, "after": speed_after},
                    "memory_seconds": {"before": memory_before, "after": memory_after},
                }
            )
        )


if __name__ == "__main__":
    main()
