"""The workspace file: every problem named by file, path and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from billsync.config.loader import ConfigError, load, parse, record_key


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse("firm.yaml", text)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_numbers_are_read_as_exact_decimals() -> None:
    records = parse(
        "firm.yaml",
        "contracts: [{code: A, client: c, currency: EUR, start: 2026-01-01, "
        "rates: [{role: r, rate: 0.1}], tax_rate: 12.5}]",
    )
    contract = records["contract"][0]
    assert contract.rates[0].rate == Decimal("0.1")  # type: ignore[attr-defined]
    assert contract.tax_rate == Decimal("12.5")  # type: ignore[attr-defined]


def test_every_bad_field_is_listed_with_its_path() -> None:
    problems = errors_of(
        """
contracts:
  - code: A
    client: c
    currency: EUR
    start: 2026-01-01
    rates: [{role: r, rat: 1}]
projects:
  - {code: P, name: x, client: c, vessel: {name: V, imo: "9074728"}}
"""
    )
    assert "contracts[0].rates[0].rate: Field required" in problems
    assert "contracts[0].rates[0].rat: Extra inputs are not permitted" in problems
    assert any(p.startswith("projects[0].vessel.imo:") and "check digit" in p for p in problems)


def test_unknown_sections_and_duplicates_are_errors() -> None:
    problems = errors_of("clientz: []\nclients: [{code: a, name: A}, {code: a, name: B}]")
    assert problems[0].startswith("clientz: unknown section")
    assert "clients[1]: duplicate of clients[0] (a)" in problems


def test_rules_that_differ_never_share_a_key() -> None:
    # Joined with ':' as they are, these two would read alike: a source may hold ':'.
    rules = parse(
        "firm.yaml",
        """
mapping_rules:
  - {source: "s:person:exact", field: project, value: v, project: P}
  - {source: s, field: person, value: "project:exact:v", person: kha}
  - {source: harvest, field: project, value: "4471", project: P}
""",
    )["rule"]
    assert len(rules) == 3
    assert [record_key("rule", r) for r in rules][2] == "harvest:project:exact:4471"
    assert len({record_key("rule", r) for r in rules}) == 3
    assert (
        "duplicate"
        in errors_of(
            "mapping_rules: [{source: 'a:b', field: person, value: v, person: k},"
            " {source: 'a:b', field: person, value: v, person: k}]"
        )[0]
    )


def test_bad_yaml_says_where() -> None:
    problems = errors_of("clients: [\n  {code: a")
    assert problems[0].startswith("line ")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("{code: s, timezone: Mars/Base, country: NO}", "unknown IANA time zone"),
        ("{code: s, timezone: UTC, country: XX}", "no holiday calendar"),
    ],
)
def test_sites_need_a_real_zone_and_calendar(record: str, message: str) -> None:
    assert message in errors_of(f"sites: [{record}]")[0]


def test_infinity_is_refused_with_its_path() -> None:
    problems = errors_of(
        "contracts: [{code: A, client: c, currency: EUR, start: 2026-01-01, tax_rate: .inf}]"
    )
    assert problems[0].startswith("contracts[0].tax_rate:")


def test_a_variation_cannot_raise_a_limit_its_cap_lacks() -> None:
    problems = errors_of("""
contracts:
  - code: A
    client: c
    currency: EUR
    start: 2026-01-01
    caps: [{scope: contract, hours: 100}]
    variations: [{code: VO-1, effective: 2026-02-01, approved: true, cap: contract,
                  cap_amount: 5000}]
""")
    assert problems == ["contracts[0]: variation VO-1 raises a limit cap 'contract' does not have"]


def test_two_caps_with_one_key_are_refused() -> None:
    problems = errors_of("""
contracts:
  - {code: A, client: c, currency: EUR, start: 2026-01-01,
     caps: [{scope: contract, hours: 100}, {scope: contract, amount: 9000}]}
""")
    assert "give one cap both hours and amount" in problems[0]


def test_a_code_is_printable_text() -> None:
    # A code is a stored key: PostgreSQL refuses a NUL; a tab or line break is a typo.
    problems = errors_of(
        'clients: [{code: "nor\\0dic", name: A}, {code: "a\\tb", name: B},'
        ' {code: "half \\ud83d", name: C}, {code: "Søren & Sønner 🚢", name: D}]'
    )
    assert problems[:2] == [
        "clients[0].code: a code holds no control characters (tab, line break, NUL)",
        "clients[1].code: a code holds no control characters (tab, line break, NUL)",
    ]
    assert problems[2].startswith("clients[2].code: Input should be a valid string")
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("rates: [{role: r, rate: 12345678901234567890123456789}]", "no more than 20 digits"),
        ("rates: [{role: r, rate: 1e400}]", "no more than 20 digits"),
        ("rates: [{role: r, rate: 0.0000001}]", "no more than 6 decimal places"),
        ("overtime: {daily_after_hours: 8, daily_multiplier: 0}", "greater than or equal to 1"),
        ("overtime: {weekend_multiplier: 0.5}", "greater than or equal to 1"),
    ],
)
def test_numbers_past_what_billing_keeps_are_refused(field: str, message: str) -> None:
    (problem,) = errors_of(
        f"contracts: [{{code: A, client: c, currency: EUR, start: 2026-01-01, {field}}}]"
    )
    assert problem.startswith("contracts[0].") and message in problem, problem


@pytest.mark.parametrize("currency", ["XAU", "XTS", "XXX", "DEM"])
def test_a_currency_is_one_some_country_pays_in_when_the_contract_starts(currency: str) -> None:
    (problem,) = errors_of(
        f"contracts: [{{code: A, client: c, currency: {currency}, start: 2026-01-01}}]"
    )
    assert f"currency {currency} was no country's legal tender on 2026-01-01" in problem


def test_a_contract_in_a_currency_of_its_day_stays_valid() -> None:
    (contract,) = parse(
        "firm.yaml", "contracts: [{code: A, client: c, currency: DEM, start: 2001-06-01}]"
    )["contract"]
    assert contract.currency == "DEM"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "most"), [("daily_after_hours: 25", "24"), ("weekly_after_hours: 200", "168")]
)
def test_an_overtime_threshold_is_one_a_day_or_week_can_reach(field: str, most: str) -> None:
    (problem,) = errors_of(
        f"contracts: [{{code: A, client: c, currency: EUR, start: 2026-01-01, "
        f"overtime: {{{field}}}}}]"
    )
    assert (
        problem.startswith("contracts[0].overtime.") and f"less than or equal to {most}" in problem
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("tax_rate: 025", None),  # leading zero: still 25, not octal 21
        ("payment_terms_days: 1:30", "'1:30' is not a number in base 10"),
        ("payment_terms_days: 0x1e", "'0x1e' is not a number in base 10"),
        ("end: 2026-02-30", "'2026-02-30' is not a date or a time"),
        ("end: 2026-13-01", "'2026-13-01' is not a date or a time"),
        ("payment_terms_days: !!int abc", "'abc' is not a number in base 10"),
        ("tax_name: !!bool maybe", "'maybe' is not true or false"),
        ("tax_rate: 10, tax_rate: 25", "'tax_rate' is given twice"),
    ],
)
def test_yaml_reads_what_was_written_or_says_where_not(value: str, said: str | None) -> None:
    text = f"contracts: [{{code: A, client: c, currency: EUR, start: 2026-01-01, {value}}}]"
    if said is None:
        assert parse("firm.yaml", text)["contract"][0].tax_rate == 25  # type: ignore[attr-defined]
        return
    (problem,) = errors_of(text)
    assert problem.startswith("line 1, column ") and said in problem, problem


def test_a_section_given_twice_and_a_file_beyond_reading_are_named(tmp_path: Path) -> None:
    assert "'clients' is given twice" in errors_of("clients: []\nclients: []")[0]
    assert errors_of("clients: " + "[" * 3000 + "]" * 3000) == ["(document): nested too deeply"]
    latin = tmp_path / "firm.yaml"
    latin.write_bytes(b'clients: [{code: a, name: "\xff"}]\n')
    with pytest.raises(ConfigError) as caught:
        load(latin)
    assert caught.value.problems[0].message.startswith("not UTF-8 text (byte 27)")


@pytest.mark.parametrize(
    ("field", "said"),
    [
        ("rates: [{role: r, unit: day, rate: 1000, day_min_hours: 0}]", "from more than 0 to 24"),
        ("rates: [{role: r, unit: day, rate: 1000, day_min_hours: 30}]", "from more than 0 to 24"),
        ("rates: [{role: r, rate: 100, day_min_hours: 0}]", "apply to day rates only"),
        (
            "rates: [{role: r, rate: 1, effective_from: 2026-04-30, effective_to: 2026-04-01}]",
            "effective_to 2026-04-01 is before effective_from 2026-04-30",
        ),
        (
            "billing: milestone, milestones: [{code: M1, name: a, amount: 1}, "
            "{code: M1, name: b, amount: 2}]",
            "two milestones are both 'M1'",
        ),
    ],
)
def test_contract_terms_that_would_bill_wrongly_are_refused(field: str, said: str) -> None:
    (problem,) = errors_of(
        f"contracts: [{{code: A, client: c, currency: EUR, start: 2026-01-01, {field}}}]"
    )
    assert said in problem, problem


@pytest.mark.parametrize(
    ("site", "said"),
    [
        ("{code: s, timezone: UTC, country: NYSE}", "no holiday calendar for country 'NYSE'"),
        ("{code: s, timezone: UTC, country: HolidayBase}", "no holiday calendar"),
        ("{code: s, timezone: UTC, country: __name__}", "no holiday calendar"),
        ("{code: s, timezone: localtime, country: 'NO'}", "unknown IANA time zone 'localtime'"),
    ],
)
def test_a_site_is_a_country_and_a_zone_not_a_name_in_a_library(site: str, said: str) -> None:
    assert said in errors_of(f"sites: [{site}]")[0]


@pytest.mark.parametrize(
    "imo", ["0000000", "\u0669\u0660\u0667\u0664\u0667\u0662\u0669", "907472\u2079"]
)
def test_an_imo_number_is_seven_ascii_digits_of_a_ship(imo: str) -> None:
    (problem,) = errors_of(
        f"projects: [{{code: P, name: x, client: c, vessel: {{name: V, imo: '{imo}'}}}}]"
    )
    assert problem.startswith("projects[0].vessel.imo:") and "check digit" in problem, problem


def test_a_member_is_someone_with_a_role() -> None:
    problems = errors_of("members: [{user: '', roles: [admin]}, {user: cfo, roles: []}]")
    assert [p.split(":")[0] for p in problems] == ["members[0].user", "members[1].roles"]


def test_minus_zero_is_zero() -> None:
    (contract,) = parse(
        "firm.yaml",
        "contracts: [{code: A, client: c, currency: EUR, start: 2026-01-01, "
        "rates: [{role: r, rate: -0.00}], tax_rate: '-0'}]",
    )["contract"]
    assert str(contract.rates[0].rate) == "0.00"  # type: ignore[attr-defined]
    assert str(contract.tax_rate) == "0"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "said"),
    [
        ("retainage: {percent: 50, max_amount: 100.005}", "retainage.max_amount 100.005"),
        ("value: 1000.5, currency: JPY", "value 1000.5: JPY amounts go to 1 at the finest"),
        ("caps: [{amount: 99.999}]", "caps[0].amount 99.999: EUR amounts go to 0.01"),
    ],
)
def test_fees_and_limits_are_in_the_currency_s_minor_unit(field: str, said: str) -> None:
    text = f"contracts: [{{code: A, client: c, start: 2026-01-01, {field}}}]"
    if "currency" not in field:
        text = text.replace("start:", "currency: EUR, start:")
    (problem,) = errors_of(text)
    assert said in problem, problem


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (
            "mapping_rules: [{source: h, field: project, value: v, project: P, priority: true}]",
            "mapping_rules[0].priority",
        ),
        ("connections: [{code: h, platform: harvest, reconcile_days: no}]", "connections[0]"),
        (
            "contracts: [{code: A, client: c, currency: EUR, start: 2026-01-01, "
            "rates: [{role: r, rate: 1}], payment_terms_days: yes}]",
            "contracts[0].payment_terms_days",
        ),
    ],
)
def test_a_count_given_true_or_false_is_refused_not_read_as_1_or_0(text: str, path: str) -> None:
    problems = errors_of(text)
    assert any(p.startswith(path) and "not true or false" in p for p in problems), problems
