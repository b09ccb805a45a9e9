"""Reading and writing the declarative workspace file (YAML).

    clients:   [{code: nordic, name: Nordic Shipyards AS}]
    sites:     [{code: bergen, timezone: Europe/Oslo, country: "NO"}]
    people:    [{code: kha, name: Kari Hansen, role: naval-architect, site: bergen}]
    projects:  [{code: P-1001, name: Hull survey, client: nordic, contract: NSY-2026}]
    contracts: [{code: NSY-2026, client: nordic, currency: EUR, start: 2026-01-01, ...}]
    mapping_rules: [{source: harvest, field: project, value: "4471", project: P-1001}]
    connections: [{code: harvest, platform: harvest, credentials: {token: env:HARVEST_TOKEN}}]

Numbers are read as Decimal from their text (145.10 stays 145.10, never a float). An
invalid file raises `ConfigError` listing every problem as file, path and field.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from billsync.domain.access import Member
from billsync.domain.connections import Connection
from billsync.domain.contracts import Contract
from billsync.domain.mapping import MappingRule
from billsync.domain.workspace import Client, Person, Project, Site
from billsync.errors import UserError

# Section name in the file -> (record kind, model). Order is the order of applying.
SECTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "clients": ("client", Client),
    "sites": ("site", Site),
    "people": ("person", Person),
    "contracts": ("contract", Contract),
    "projects": ("project", Project),
    "mapping_rules": ("rule", MappingRule),
    "members": ("member", Member),
    "connections": ("connection", Connection),
}
KIND_SECTION = {kind: section for section, (kind, _) in SECTIONS.items()}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str


class ConfigError(UserError):
    def __init__(self, filename: str, problems: list[Problem]):
        self.filename = filename
        self.problems = problems
        lines = [f"{filename}: {p.path}: {p.message}" for p in problems]
        super().__init__("invalid workspace file; nothing was changed\n" + "\n".join(lines))


class _DecimalLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of a key given twice: a rate or a section typed twice
        # would lose the first without a word.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise _refused(key_node, f"{key_node.value!r} is given twice")
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _refused(node: yaml.Node, why: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, why, node.start_mark)


def _integer(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """Base 10 only: YAML 1.1 would read 025 as octal 21, 1:30 as 90 and 0x64 as 100."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        raise _refused(node, f"{node.value!r} is not a number in base 10")
    return int(text)


def _checked(construct: Any, what: str) -> Any:
    """A SafeLoader constructor whose Python error on a bad value (2026-02-30, !!bool
    maybe) is a YAML error at the value's line."""

    def checked(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, TypeError) as exc:
            raise _refused(node, f"{node.value!r} is not {what}") from exc

    return checked


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | str:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:  # .inf, .nan: left as text for the field to refuse
        return text


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
_DecimalLoader.add_constructor("tag:yaml.org,2002:int", _integer)
_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    _checked(yaml.SafeLoader.construct_yaml_timestamp, "a date or a time"),
)
_DecimalLoader.add_constructor(
    "tag:yaml.org,2002:bool", _checked(yaml.SafeLoader.construct_yaml_bool, "true or false")
)


class _Dumper(yaml.SafeDumper):
    pass


def _decimal_out(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    text = str(value)
    tag = "float" if any(c in text for c in ".eE") else "int"  # read back untagged as a number
    return dumper.represent_scalar(f"tag:yaml.org,2002:{tag}", text)


def _str_out(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # YAML reads NEL, LS and PS as line breaks: written raw they would come back as
    # spaces. Double-quoted, they are escaped (\N, \L, \P) and read back as they were.
    style = '"' if any(c in value for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(Decimal, _decimal_out)
_Dumper.add_representer(str, _str_out)
_Dumper.add_multi_representer(enum.Enum, lambda d, v: d.represent_str(str(v.value)))
_Dumper.add_representer(tuple, lambda d, v: d.represent_list(list(v)))


def record_key(kind: str, record: BaseModel) -> str:
    if isinstance(record, MappingRule):
        # A source may hold ':' (a field or a match never does): escaped, two rules never
        # share a key. A source without ':' or '\\' keeps the key it always had.
        source = record.source.replace("\\", "\\\\").replace(":", "\\:")
        return f"{source}:{record.field}:{record.match}:{record.value}"
    if isinstance(record, Member):
        return record.user
    if isinstance(record, Client | Site | Person | Project | Contract | Connection):
        return record.code
    raise TypeError(f"no key for a {kind} record")


def _message(text: str) -> str:
    return text.removeprefix("Value error, ")


def _path(section: str, index: int, loc: tuple[int | str, ...]) -> str:
    text = f"{section}[{index}]"
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def parse(filename: str, text: str) -> dict[str, list[BaseModel]]:
    """Every record of the file by kind, or ConfigError listing every problem."""
    try:
        document = yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        raise ConfigError(filename, [Problem(where, f"not valid YAML: {exc}")]) from exc
    except RecursionError:
        raise ConfigError(filename, [Problem("(document)", "nested too deeply")]) from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ConfigError(filename, [Problem("(document)", "must be a mapping of sections")])
    problems: list[Problem] = []
    for key in document:
        if key not in SECTIONS:
            known = ", ".join(SECTIONS)
            problems.append(Problem(str(key), f"unknown section; expected one of {known}"))
    parsed: dict[str, list[BaseModel]] = {}
    for section, (kind, model) in SECTIONS.items():
        items = document.get(section) or []
        if not isinstance(items, list):
            problems.append(Problem(section, "must be a list"))
            continue
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            try:
                record = model.model_validate(item)
            except ValidationError as exc:
                for error in exc.errors():
                    problems.append(
                        Problem(_path(section, index, error["loc"]), _message(error["msg"]))
                    )
                continue
            key = record_key(kind, record)
            if key in seen:
                problems.append(
                    Problem(f"{section}[{index}]", f"duplicate of {section}[{seen[key]}] ({key})")
                )
            seen[key] = index
            parsed.setdefault(kind, []).append(record)
    if problems:
        raise ConfigError(filename, problems)
    return parsed


def load(path: Path) -> dict[str, list[BaseModel]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Problem("(file)", exc.strerror or str(exc))]) from exc
    except UnicodeDecodeError as exc:
        why = f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        raise ConfigError(str(path), [Problem("(file)", why)]) from None
    return parse(str(path), text)


def dump(records: Mapping[str, list[BaseModel]]) -> str:
    document: dict[str, Any] = {}
    for section, (kind, _) in SECTIONS.items():
        if records.get(kind):
            document[section] = [
                r.model_dump(mode="python", exclude_defaults=True) for r in records[kind]
            ]
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def check_references(records: Mapping[str, list[BaseModel]]) -> list[Problem]:
    """Problems with references between records (the file merged with what is stored)."""
    codes = {kind: {record_key(kind, r) for r in rs} for kind, rs in records.items()}
    problems: list[Problem] = []

    def need(kind: str, record: BaseModel, field: str, target: str) -> None:
        value = getattr(record, field)
        if value and value not in codes.get(target, set()):
            where = f"{KIND_SECTION[kind]}[{record_key(kind, record)}].{field}"
            problems.append(Problem(where, f"unknown {target} {value!r}"))

    for person in records.get("person", []):
        need("person", person, "site", "site")
    for contract in records.get("contract", []):
        need("contract", contract, "client", "client")
    clients_of = {c.code: c.client for c in records.get("contract", []) if isinstance(c, Contract)}
    for project in records.get("project", []):
        need("project", project, "client", "client")
        need("project", project, "contract", "contract")
        assert isinstance(project, Project)
        client = clients_of.get(project.contract or "")
        if client is not None and client != project.client:
            # Its work would be invoiced to the contract's client, not the project's.
            problems.append(
                Problem(
                    f"projects[{project.code}].contract",
                    f"contract {project.contract} is with client {client!r}, "
                    f"not {project.client!r}",
                )
            )
    for rule in records.get("rule", []):
        need("rule", rule, "project", "project")
        need("rule", rule, "person", "person")
    return problems + _named_in_contracts(records)


def _named_in_contracts(records: Mapping[str, list[BaseModel]]) -> list[Problem]:
    """Rate rows, caps and milestones name people, phases and tasks that exist: a typo
    there matches no work, so a rate never applies or a not-to-exceed cap never counts.
    Phases and tasks are checked once the contract has projects to hold them."""
    people = {r.code for r in records.get("person", []) if isinstance(r, Person)}
    work: dict[str, dict[str, set[str]]] = {}
    for project in records.get("project", []):
        if isinstance(project, Project) and project.contract:
            codes = work.setdefault(project.contract, {"phase": set(), "task": set()})
            codes["phase"].update(phase.code for phase in project.phases)
            codes["task"].update(task.code for task in project.tasks)
    problems: list[Problem] = []
    for contract in records.get("contract", []):
        assert isinstance(contract, Contract)
        terms: list[tuple[str, BaseModel]] = [
            *((f"rates[{i}]", rate) for i, rate in enumerate(contract.rates)),
            *((f"caps[{i}]", cap) for i, cap in enumerate(contract.caps)),
            *((f"milestones[{i}]", m) for i, m in enumerate(contract.milestones)),
        ]
        for where, term in terms:
            at = f"contracts[{contract.code}].{where}"
            person = getattr(term, "person", None)
            if person and person not in people:
                problems.append(Problem(f"{at}.person", f"unknown person {person!r}"))
            known = work.get(contract.code, {})
            for field, held in known.items():
                value = getattr(term, field, None)
                if value and value not in held:
                    listed = ", ".join(sorted(held)) or "none"
                    problems.append(
                        Problem(
                            f"{at}.{field}",
                            f"no project of {contract.code} has {field} {value!r} "
                            f"(theirs: {listed})",
                        )
                    )
    return problems
