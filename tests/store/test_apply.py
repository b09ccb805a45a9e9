"""`billsync apply`: declarative, idempotent, audited, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from billsync.config.loader import ConfigError, dump, load, parse
from billsync.demo.timegen import scaled_workspace
from billsync.pipeline.workspace import apply, export, load_workspace
from billsync.store import audit, records
from billsync.store.db import Store

FIRM = Path(__file__).parent.parent / "fixtures" / "firm.yaml"


def test_apply_creates_every_record_and_audits_each(store: Store) -> None:
    result = apply(store, "firm.yaml", load(FIRM), "finance@firm")
    kinds = sorted({(c.kind, c.action) for c in result.changes})
    assert kinds == [
        ("client", "created"),
        ("contract", "created"),
        ("person", "created"),
        ("project", "created"),
        ("rule", "created"),
        ("site", "created"),
    ]
    assert len(result.changes) == 11
    with store.reading() as tx:
        ws = load_workspace(tx)
        events = audit.events(tx)
    assert ws.projects["P-1001"].vessel is not None
    assert ws.contracts["NSY-2026"].rates[1].rate.as_tuple() == (0, (9, 5, 5, 0), -2)
    assert [e["subject"] for e in events].count("contract:NSY-2026") == 1
    assert all(e["actor"] == "finance@firm" for e in events)


def test_applying_the_same_file_twice_changes_nothing(store: Store) -> None:
    apply(store, "firm.yaml", load(FIRM), "a")
    again = apply(store, "firm.yaml", load(FIRM), "a")
    assert again.changes == [] and again.unchanged == 11
    with store.reading() as tx:
        assert len(audit.events(tx)) == 11


def test_a_rate_change_adds_a_contract_version_and_shows_the_diff(store: Store) -> None:
    apply(store, "firm.yaml", load(FIRM), "a")
    changed = FIRM.read_text().replace("rate: 145.00", "rate: 150.00")
    result = apply(store, "firm.yaml", parse("firm.yaml", changed), "b")
    assert [(c.kind, c.code, c.action) for c in result.changes] == [
        ("contract", "NSY-2026", "updated")
    ]
    before, after = result.changes[0].fields["rates"]
    assert before[0]["rate"] == "145.00" and after[0]["rate"] == "150.00"
    with store.reading() as tx:
        ws = load_workspace(tx)
    assert ws.contract_versions["NSY-2026"] == 2


def test_an_unknown_reference_names_the_record_and_field_and_changes_nothing(
    store: Store,
) -> None:
    bad = FIRM.read_text().replace("site: houston", "site: dubai")
    with pytest.raises(ConfigError) as caught:
        apply(store, "firm.yaml", parse("firm.yaml", bad), "a")
    assert "firm.yaml: people[jdo].site: unknown site 'dubai'" in str(caught.value)
    elsewhere = FIRM.read_text().replace("contract: KOBE-1", "contract: NSY-2026")
    with pytest.raises(ConfigError) as caught:
        apply(store, "firm.yaml", parse("firm.yaml", elsewhere), "a")
    assert (
        "firm.yaml: projects[P-2001].contract: contract NSY-2026 is with client 'nordic', "
        "not 'kobe'"
    ) in str(caught.value)
    with store.reading() as tx:
        assert audit.events(tx) == []
        assert load_workspace(tx).clients == {}


def test_export_writes_back_what_apply_reads(store: Store) -> None:
    apply(store, "firm.yaml", load(FIRM), "a")
    text = dump(export(store))
    assert parse("export.yaml", text) == {k: v for k, v in load(FIRM).items()}


def test_export_keeps_text_yaml_reads_as_line_breaks(store: Store) -> None:
    # NEL, LS and PS inside a name: written raw, YAML would read them back as spaces.
    names = "clients:\n" + "".join(
        f'  - {{code: c{i}, name: "Dry\\{escape}dock"}}\n' for i, escape in enumerate("NLP")
    )
    apply(store, "firm.yaml", parse("firm.yaml", names), "a")
    text = dump(export(store))
    read_back = parse("export.yaml", text)["client"]
    assert [c.name for c in read_back] == ["Dry\x85dock", "Dry\u2028dock", "Dry\u2029dock"]


def test_prune_removes_rules_the_file_no_longer_lists_and_they_can_come_back(
    store: Store,
) -> None:
    apply(store, "firm.yaml", load(FIRM), "a")
    without = FIRM.read_text().split("mapping_rules:")[0]
    kept = apply(store, "firm.yaml", parse("firm.yaml", without), "a")
    assert kept.changes == []  # without --prune nothing is removed
    pruned = apply(store, "firm.yaml", parse("firm.yaml", without), "a", prune=True)
    assert [(c.kind, c.code, c.action) for c in pruned.changes] == [
        ("rule", "harvest:project:exact:4471", "removed")
    ]
    with store.reading() as tx:
        assert load_workspace(tx).rules == ()
    back = apply(store, "firm.yaml", load(FIRM), "a")
    assert [(c.kind, c.action) for c in back.changes] == [("rule", "created")]


def test_listing_members_without_yourself_as_admin_is_refused(store: Store) -> None:
    members = "\nmembers:\n  - {user: someone, roles: [admin]}\n"
    with pytest.raises(ConfigError, match="'a' must stay a member with the admin role"):
        apply(store, "firm.yaml", parse("firm.yaml", FIRM.read_text() + members), "a")


def test_a_rate_or_cap_naming_what_does_not_exist_is_refused(store: Store) -> None:
    """A typo there matches no work: the rate would never apply, the cap never count."""
    text = FIRM.read_text().replace(
        "code: NSY-2026",
        "code: NSY-2026\n    caps: [{scope: phase, phase: desing, hours: 1}]",
    )
    text = text.replace(
        "- {role: naval-architect, rate:",
        "- {person: khaa, rate: 1}\n      - {role: naval-architect, rate:",
        1,
    )
    with pytest.raises(ConfigError) as caught:
        apply(store, "firm.yaml", parse("firm.yaml", text), "a")
    said = str(caught.value)
    assert "contracts[NSY-2026].rates[0].person: unknown person 'khaa'" in said
    assert (
        "contracts[NSY-2026].caps[0].phase: no project of NSY-2026 has phase 'desing' "
        "(theirs: design)"
    ) in said


def test_a_roster_of_thousands_is_applied_and_versioned_record_by_record(store: Store) -> None:
    # More people than one statement binds (900): the records go in by the chunk.
    roster = scaled_workspace(2_000)
    first = apply(store, "roster.yaml", roster, "a")
    assert sum(c.kind == "person" for c in first.changes) == 2_000
    people = roster["person"]
    renamed = [p.model_copy(update={"name": f"{p.name} (renamed)"}) for p in people[::2]]
    second = apply(store, "roster.yaml", {"person": renamed}, "a")
    assert [c.action for c in second.changes] == ["updated"] * 1_000
    assert second.changes[0].fields == {"name": (people[0].name, renamed[0].name)}
    with store.reading() as tx:
        versions = {r["code"]: r["version"] for r in records.current(tx, "person")}
        events = audit.events(tx)
        assert load_workspace(tx).people[people[2].code].name.endswith("(renamed)")
        assert audit.verify(tx) is None  # the chain holds
    assert len(versions) == 2_000  # one current version of each
    assert {versions[p.code] for p in people[::2]} == {2}
    assert {versions[p.code] for p in people[1::2]} == {1}
    updated = [e for e in events if e["action"] == "person.updated"]
    assert [e["subject"] for e in updated] == [f"person:{p.code}" for p in renamed]
    assert all(e["after"]["version"] == 2 for e in updated)
