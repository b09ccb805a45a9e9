"""Connections from the command line, against the Harvest sandbox on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from billsync.cli import app
from billsync.sandbox.base import TimeSandbox, serve
from billsync.sandbox.platforms.quickbooks import QuickBooksSandbox
from billsync.sandbox.registry import all_sandboxes
from billsync.store import webhook_events
from billsync.store.db import Store
from support.connections import wired


@pytest.fixture
def cli(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("BILLSYNC_DATABASE_URL", db_url)
    monkeypatch.setenv("BILLSYNC_WORKSPACE", store.workspace)
    monkeypatch.setenv("BILLSYNC_ACTOR", "ops@firm")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, input: str | None = None) -> Any:
        result = runner.invoke(app, list(args), input=input)
        assert (result.exit_code == 0) == ok, result.output
        return result

    return invoke


def harvest(size: int) -> TimeSandbox:
    sandbox = all_sandboxes()["harvest"](seed=1, size=size)  # type: ignore[call-arg]
    assert isinstance(sandbox, TimeSandbox)
    return sandbox


def connection_file(tmp_path: Path, url: str, account: str, credential: str) -> Path:
    path = tmp_path / "connections.yaml"
    path.write_text(
        f"""connections:
  - code: harvest
    platform: harvest
    base_url: {url}
    credentials: {{token: {credential}}}
    settings: {{account_id: "{account}"}}
    timezone: Europe/Oslo
"""
    )
    return path


def test_sync_from_an_env_credential_then_list(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = harvest(25)
    with serve(sandbox) as url:
        setup = sandbox.setup(url)
        monkeypatch.setenv("HARVEST_TOKEN", setup.credentials["token"])
        path = connection_file(tmp_path, url, setup.settings["account_id"], "env:HARVEST_TOKEN")
        assert "+ connection harvest" in cli("apply", "-f", str(path)).output
        assert "time readable" in cli("connections", "test", "harvest").output
        first = cli("sync").output
        second = cli("sync", "--connection", "harvest").output
        listed = cli("connections", "list", "--format", "csv").output
    assert "harvest: full read; fetched 25  new 25" in first
    assert "new 0  changed 0  unchanged 25" in second
    assert "harvest,Harvest,in," in listed


def test_a_stored_secret_is_prompted_for_and_a_wrong_one_fails_loudly(
    cli: Any, tmp_path: Path
) -> None:
    sandbox = harvest(3)
    with serve(sandbox) as url:
        setup = sandbox.setup(url)
        cli(
            "apply",
            "-f",
            str(connection_file(tmp_path, url, setup.settings["account_id"], "stored")),
        )
        missing = cli("sync", ok=False).output
        for args, said in (
            (("nope", "token"), "no connection 'nope'"),
            (("harvest", "tokn"), "harvest: has no credential 'tokn' (its credentials: token)"),
        ):
            refused = cli("connections", "set-secret", *args, input="x\n", ok=False).output
            assert said in refused
        empty = cli("connections", "set-secret", "harvest", "token", "--value", " ", ok=False)
        assert "the value is empty; nothing was stored" in empty.output
        assert "credential 'token' is not set" in cli("sync", ok=False).output
        cli("connections", "set-secret", "harvest", "token", input="not-the-token\n")
        wrong = cli("sync", ok=False).output
        cli(
            "connections", "set-secret", "harvest", "token", input=setup.credentials["token"] + "\n"
        )
        right = cli("sync").output
    assert "credential 'token' is not set" in missing
    assert "error: harvest: GET /v2/time_entries: 401 invalid_token" in wrong
    assert "not-the-token" not in wrong
    assert "new 3" in right


def test_a_connection_to_an_unknown_platform_is_refused_whole(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connections:\n  - {code: x, platform: timesheetz, credentials: {token: hunter2}}\n"
    )
    out = cli("apply", "-f", str(path), ok=False).output
    assert "connections[0].credentials" in out and "env:VARIABLE or stored" in out
    assert "hunter2" not in out
    path.write_text("connections:\n  - {code: x, platform: timesheetz}\n")
    out = cli("apply", "-f", str(path), ok=False).output
    assert "connections[x].platform: unknown platform" in out


def test_a_setting_or_credential_the_platform_does_not_read_is_refused(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "connections:\n"
        "  - {code: h, platform: harvest, credentials: {token: stored, tokn: stored},\n"
        "     settings: {account_id: '1', acount_id: '1', contact: a@b.example}}\n"
        "  - {code: c, platform: clockify, credentials: {api_key: stored,\n"
        "     webhook_secret: stored}, settings: {workspace_id: w, history_start: '2026-01-01'}}\n"
    )
    out = cli("apply", "-f", str(path), ok=False).output
    assert (
        "connections[h].credentials.tokn: Harvest reads no such credential (it reads: token)" in out
    )
    assert (
        "connections[h].settings.acount_id: Harvest reads no such setting "
        "(it reads: account_id, contact)"
    ) in out
    assert "settings.contact" not in out  # an option it reads is taken
    assert "connections[c]" not in out  # Clockify takes webhooks: webhook_secret is its own
    path.write_text(path.read_text().replace("tokn: stored", "").replace("acount_id: '1', ", ""))
    path.write_text(path.read_text().replace(", }", "}"))
    assert "+ connection h\n+ connection c" in cli("apply", "-f", str(path)).output


def test_one_failing_connection_is_named_and_the_others_still_sync_and_run(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = harvest(3)
    with serve(sandbox) as url:
        setup = sandbox.setup(url)
        monkeypatch.setenv("GOOD_TOKEN", setup.credentials["token"])
        monkeypatch.setenv("BAD_TOKEN", "not-the-token")
        path = tmp_path / "two.yaml"
        path.write_text(
            "connections:\n"
            + "".join(
                f"""  - code: {code}
    platform: harvest
    base_url: {url}
    credentials: {{token: env:{variable}}}
    settings: {{account_id: "{setup.settings["account_id"]}"}}
    timezone: Europe/Oslo
"""
                for code, variable in (("a_harvest", "BAD_TOKEN"), ("b_harvest", "GOOD_TOKEN"))
            )
        )
        cli("apply", "-f", str(path))
        synced = cli("sync", ok=False).output
        ran = cli("run", "--today", "2026-04-02", ok=False).output
    # a_harvest sorts first: its failure did not stop b_harvest.
    assert "error: a_harvest: harvest: GET /v2/time_entries: 401 invalid_token" in synced
    assert "b_harvest: full read; fetched 3  new 3" in synced
    assert "1 connection(s) failed to sync: a_harvest" in synced
    assert "not-the-token" not in synced
    # `run` goes on past the failure: the pipeline runs on what b_harvest brought.
    assert "error: a_harvest: harvest: GET /v2/time_entries: 401" in ran
    assert "b_harvest: fetched 3  new 0" in ran
    assert "entries; exceptions:" in ran
    assert "finished, but these failed: a_harvest" in ran


def test_sync_reports_a_webhook_event_it_cannot_process_and_goes_on(cli: Any, store: Store) -> None:
    """An event stored that can never be processed (here one an older billsync let in):
    `billsync sync` says which and why, marks it failed, and a second sync is quiet."""
    sandbox = QuickBooksSandbox(items=[])
    with wired(store, "quickbooks", sandbox):
        with store.transaction(lock=False) as tx:
            odd = webhook_events.store(tx, "quickbooks", {}, b'{"eventNotifications": [{}]}')
        first = cli("sync", "--connection", "quickbooks").output
        second = cli("sync", "--connection", "quickbooks").output
    assert f"quickbooks: webhook event {odd} FAILED: cannot be processed: " in first
    assert "Traceback" not in first
    assert "FAILED" not in second
