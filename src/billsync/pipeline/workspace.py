"""Apply a declarative workspace file: create or update records, print the diff,
audit every change, and change nothing when any record or reference is wrong.

    $ billsync apply -f firm.yaml
    + contract NSY-2026
    ~ project P-1001: status active -> ready_for_billing
    = 12 unchanged
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from billsync.config.loader import (
    SECTIONS,
    ConfigError,
    Problem,
    check_references,
    record_key,
)
from billsync.connectors.registry import all_platforms
from billsync.domain.access import Member, Role
from billsync.domain.connections import Connection
from billsync.domain.contracts import Contract
from billsync.domain.mapping import MappingContext, MappingRule
from billsync.domain.workspace import Client, Person, Project, Site
from billsync.store import records
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx

PRUNABLE = ("rule", "member", "connection")
MODELS: dict[str, type[BaseModel]] = {kind: model for kind, model in SECTIONS.values()}


@dataclass(frozen=True)
class Change:
    kind: str
    code: str
    action: str  # created, updated, removed
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (before, after)


@dataclass
class ApplyResult:
    changes: list[Change]
    unchanged: int


@dataclass(frozen=True)
class Workspace:
    """The current declarative records, as domain values."""

    clients: dict[str, Client]
    sites: dict[str, Site]
    people: dict[str, Person]
    projects: dict[str, Project]
    contracts: dict[str, Contract]
    contract_versions: dict[str, int]
    rules: tuple[MappingRule, ...]
    connections: dict[str, Connection]

    def mapping(self) -> MappingContext:
        """What mapping reads: the projects, people and rules."""
        return MappingContext.of(self.projects.values(), self.people.values(), self.rules)


def _body(record: BaseModel) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude_defaults=True)


def _field_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    keys = sorted(set(before) | set(after))
    return {k: (before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)}


def load_workspace(tx: Tx) -> Workspace:
    by_kind: dict[str, list[BaseModel]] = {}
    versions: dict[str, int] = {}
    for row in records.current(tx):
        by_kind.setdefault(row["kind"], []).append(MODELS[row["kind"]].model_validate(row["body"]))
        if row["kind"] == "contract":
            versions[row["code"]] = row["version"]

    def keyed(kind: str) -> dict[str, Any]:
        return {record_key(kind, r): r for r in by_kind.get(kind, [])}

    return Workspace(
        clients=keyed("client"),
        sites=keyed("site"),
        people=keyed("person"),
        projects=keyed("project"),
        contracts=keyed("contract"),
        contract_versions=versions,
        rules=tuple(by_kind.get("rule", [])),  # type: ignore[arg-type]
        connections=keyed("connection"),
    )


def apply(
    store: Store,
    filename: str,
    parsed: Mapping[str, list[BaseModel]],
    actor: str,
    *,
    prune: bool = False,
) -> ApplyResult:
    """With `prune`, the file's mapping rules and members are the whole lists: stored
    ones missing from it are removed (other records are referenced by entries and
    invoices, and are never removed)."""
    with store.transaction() as tx:
        authorize(tx, actor, "apply")
        stored = {(r["kind"], r["code"]): r for r in records.current(tx)}
        in_file = {
            (kind, record_key(kind, item)) for kind, items in parsed.items() for item in items
        }
        retired = sorted(
            key for key in stored if prune and key[0] in PRUNABLE and key not in in_file
        )
        merged: dict[str, dict[str, BaseModel]] = {}
        for (kind, code), row in stored.items():
            if (kind, code) not in retired:
                merged.setdefault(kind, {})[code] = MODELS[kind].model_validate(row["body"])
        for kind, items in parsed.items():
            for item in items:
                merged.setdefault(kind, {})[record_key(kind, item)] = item
        problems = check_references({k: list(v.values()) for k, v in merged.items()})
        problems += _lockout(merged.get("member", {}), actor)
        problems += _platform_problems(merged.get("connection", {}))
        if problems:
            raise ConfigError(filename, problems)

        audit = AuditLog(tx, actor)
        changes: list[Change] = []
        # (kind, code) -> (body, stored body): a record given twice is stored as the last.
        changed: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any] | None]] = {}
        unchanged = 0
        for kind, _ in ((k, m) for k, m in SECTIONS.values()):
            for item in parsed.get(kind, []):
                code = record_key(kind, item)
                body = _body(item)
                old = stored.get((kind, code))
                if old is not None and old["body"] == body:
                    unchanged += 1
                    continue
                changed[kind, code] = (body, old["body"] if old else None)
        versions = records.put_many(tx, [(*key, body) for key, (body, _) in changed.items()])
        audit.record_many(
            [
                (
                    f"{kind}.{'created' if before is None else 'updated'}",
                    f"{kind}:{code}",
                    before,
                    {"version": version, "file": filename, **body},
                )
                for ((kind, code), (body, before)), version in zip(
                    changed.items(), versions, strict=True
                )
            ]
        )
        for (kind, code), (body, before) in changed.items():
            diff = {} if before is None else _field_diff(before, body)
            changes.append(Change(kind, code, "created" if before is None else "updated", diff))
        for kind, code in retired:
            records.retire(tx, kind, code)
            audit.record(
                f"{kind}.removed", f"{kind}:{code}", stored[kind, code]["body"], {"file": filename}
            )
            changes.append(Change(kind, code, "removed"))
        return ApplyResult(changes, unchanged)


def _lockout(members: Mapping[str, BaseModel], actor: str) -> list[Problem]:
    """Listing members without the acting admin would lock them out of the workspace."""
    if not members:
        return []
    me = members.get(actor)
    if isinstance(me, Member) and Role.ADMIN in me.roles:
        return []
    return [
        Problem(
            "members",
            f"{actor!r} must stay a member with the admin role, or no "
            "one could change this workspace again",
        )
    ]


def _platform_problems(connections: Mapping[str, BaseModel]) -> list[Problem]:
    """A connection names a known platform and gives what that platform needs."""
    platforms = all_platforms()
    problems = []
    for code, connection in connections.items():
        assert isinstance(connection, Connection)
        where = f"connections[{code}]"
        found = platforms.get(connection.platform)
        if found is None:
            known = ", ".join(sorted(platforms))
            problems.append(Problem(f"{where}.platform", f"unknown platform (known: {known})"))
            continue
        for name in found.credentials:
            if name not in connection.credentials:
                problems.append(Problem(f"{where}.credentials", f"{name!r} is required"))
        for name in found.settings:
            if name not in connection.settings:
                problems.append(Problem(f"{where}.settings", f"{name!r} is required"))
        # A name the platform does not read is a typo (`acount_id`): refused, not ignored.
        webhook = ("webhook_secret",) if found.webhooks else ()
        for kind, given, takes in (
            ("credential", connection.credentials, (*found.credentials, *webhook)),
            ("setting", connection.settings, (*found.settings, *found.options)),
        ):
            for name in sorted(set(given) - set(takes)):
                problems.append(
                    Problem(
                        f"{where}.{kind}s.{name}",
                        f"{found.title} reads no such {kind} (it reads: {', '.join(takes)})",
                    )
                )
        if connection.push_invoices and found.sink is None:
            problems.append(Problem(f"{where}.push_invoices", f"{found.title} takes no invoices"))
        if connection.pull_time and found.source is None:
            problems.append(Problem(f"{where}.pull_time", f"{found.title} has no time to pull"))
    return problems


def export(store: Store) -> dict[str, list[BaseModel]]:
    with store.reading() as tx:
        out: dict[str, list[BaseModel]] = {}
        for row in records.current(tx):
            out.setdefault(row["kind"], []).append(MODELS[row["kind"]].model_validate(row["body"]))
        return out
