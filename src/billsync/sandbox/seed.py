"""Seed data for the sandboxes: work as a vendor's users would have tracked it.

Every sandbox turns the same neutral `WorkItem`s into its own objects, so one seed
gives comparable data in every vendor. `generate` makes a deterministic marine-firm
month; the demo passes the items of its own firm instead.

    items = generate(size=3, seed=7)
    items[0] -> WorkItem(person='Kari Hansen', email='kari.hansen@example.com',
                client='Nordic Shipyards AS', project='MV Nordic Star - Hull survey',
                task='Hull survey', start=2026-10-01 08:00+02:00, seconds=13500, ...)
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WorkItem:
    person: str
    email: str
    client: str
    project: str
    task: str
    start: dt.datetime  # aware, in the person's zone
    seconds: int
    notes: str = ""
    billable: bool = True
    approved: bool = True

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.seconds)


PEOPLE = (
    ("Kari Hansen", "Europe/Oslo"),
    ("Lars Eide", "Europe/Oslo"),
    ("Mei Tanaka", "Asia/Tokyo"),
    ("Jon Garza", "America/Chicago"),
    ("Siti Rahman", "Asia/Singapore"),
    ("Tom Wright", "Europe/London"),
)
PROJECTS = (
    ("Nordic Shipyards AS", "MV Nordic Star - Hull survey", ("Hull survey", "Steel design")),
    ("Fjordkraft Ferries", "Fjordkraft BWTS retrofit", ("BWTS engineering", "Piping design")),
    ("Kobe Maru Line", "Kobe Maru LNG conversion", ("LNG tank arrangement", "Stability")),
    ("Gulf Offshore LLC", "Gulf Pioneer FPSO support", ("Onshore engineering support",)),
)
NOTES = ("", "site visit", "drawings rev B", "class comments", "calc check", "meeting")


def generate(size: int, seed: int = 7, start: dt.date = dt.date(2026, 10, 1)) -> list[WorkItem]:
    """`size` items over working days from `start`, one to three a person a day."""
    rng = random.Random(seed)
    items: list[WorkItem] = []
    day = start
    while len(items) < size:
        if day.weekday() < 5:
            for name, zone in PEOPLE:
                client, project, tasks = rng.choice(PROJECTS)
                clock = dt.datetime.combine(day, dt.time(8), ZoneInfo(zone))
                for _ in range(rng.randint(1, 3)):
                    seconds = rng.choice(range(1800, 4 * 3600 + 1, 900))
                    items.append(
                        WorkItem(
                            person=name,
                            email=name.lower().replace(" ", ".") + "@example.com",
                            client=client,
                            project=project,
                            task=rng.choice(tasks),
                            start=clock,
                            seconds=seconds,
                            notes=rng.choice(NOTES),
                            billable=rng.random() > 0.05,
                            approved=rng.random() > 0.1,
                        )
                    )
                    clock += dt.timedelta(seconds=seconds + 900)
                    if len(items) == size:
                        return items
        day += dt.timedelta(days=1)
    return items
