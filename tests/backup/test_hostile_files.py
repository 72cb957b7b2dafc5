"""Exports and Uptime Kuma backups written by someone else: every bad value gets a one-line error and a
non-zero exit code, never a traceback; exports keep secrets and permissions tight; slug generation stays
linear in a name's length."""

from __future__ import annotations

import json
import os
import re
import stat
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from calcifer.app import prepare
from calcifer.auth import service as auth_service
from calcifer.backup import export, kuma
from calcifer.cli import app as cli_app
from calcifer.notify import service as notify
from calcifer.web.context import AppContext
from tests.conftest import Cast, drop_schema, make_settings
from tests.work.helpers import make_work_item


def run_cli(ctx: AppContext, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    for name in list(os.environ):
        if name.startswith("CALCIFER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALCIFER_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("CALCIFER_MONITOR_IN_WEB", "false")
    if ctx.settings.database_url:
        monkeypatch.setenv("CALCIFER_DATABASE_URL", ctx.settings.database_url)
    if ctx.settings.database_schema:
        monkeypatch.setenv("CALCIFER_DATABASE_SCHEMA", ctx.settings.database_schema)
    return CliRunner().invoke(cli_app, list(args))


def assert_one_line_error(result: Any, match: str) -> None:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert re.search(match, lines[0]), lines[0]


# -- calcifer import ------------------------------------------------------------------------------------------

def _first_row_with(document: dict[str, Any], table: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = document["tables"][table]
    assert rows, f"the instance has no {table}"
    return rows[0]


def _infinity(doc: dict[str, Any]) -> str:
    _first_row_with(doc, "users")["id"] = float("inf")
    return json.dumps(doc)  # writes the bare word Infinity, as a non-Python program might


def _nan(doc: dict[str, Any]) -> str:
    _first_row_with(doc, "users")["id"] = float("nan")
    return json.dumps(doc)


def _deep(doc: dict[str, Any]) -> str:
    _first_row_with(doc, "users")["display_name"] = "@"
    return json.dumps(doc).replace('"@"', "[" * 100_000 + "]" * 100_000)


def _huge_id(doc: dict[str, Any]) -> str:
    _first_row_with(doc, "users")["id"] = 2**64
    return json.dumps(doc)


def _bad_date(doc: dict[str, Any]) -> str:
    _first_row_with(doc, "users")["created_at"] = "2026-13-45T99:00:00"
    return json.dumps(doc)


def _surrogate(doc: dict[str, Any]) -> str:
    _first_row_with(doc, "users")["display_name"] = "bad \ud800 name"
    return json.dumps(doc)  # json escapes it as \ud800, which Python reads back as a lone surrogate


HOSTILE_EXPORTS: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "infinity": (_infinity, r"not JSON \(Infinity is not a number JSON allows\)"),
    "nan": (_nan, r"not JSON \(NaN is not a number JSON allows\)"),
    "deep nesting": (_deep, r"nested more than 64 levels deep"),
    "id above 2^63": (_huge_id, r"holds the number 18446744073709551616…, larger than a database can store"),
    "bad date": (_bad_date, r"Table users, column created_at: '2026-13-45T99:00:00' is not a valid value"),
    "lone surrogate": (_surrogate, r"lone UTF-16 surrogate"),
}


@pytest.mark.parametrize("kind", list(HOSTILE_EXPORTS))
def test_calcifer_import_answers_a_hostile_export_with_one_line_and_imports_nothing(
        ctx: AppContext, cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    forge, match = HOSTILE_EXPORTS[kind]
    source = tmp_path / "hostile.json"
    source.write_text(forge(json.loads(export.export_text(engine=ctx.engine))), encoding="utf-8")
    fresh = make_settings(tmp_path / "fresh")
    ctx_b = prepare(fresh)
    try:
        result = run_cli(ctx_b, monkeypatch, "import", str(source))
        assert_one_line_error(result, match)
        with ctx_b.engine.connect() as conn:
            assert export.instance_problems(conn) == [], "nothing half-imported"
    finally:
        ctx_b.engine.dispose()
        drop_schema(fresh)


# -- calcifer import-kuma --------------------------------------------------------------------------------------

def _kuma(interval: str = "60", *, name: str = "Web", kuma_id: str = "1", extra: str = "") -> str:
    monitor = (f'{{"id": {kuma_id}, "name": "{name}", "type": "http", "url": "https://web.example.org", '
               f'"interval": {interval}}}')
    return f'{{"monitorList": [{monitor}]{extra}}}'


NTFY_HIGH = ', "notificationList": [{"id": 1, "name": "n", "config": ' \
    '"{\\"type\\": \\"ntfy\\", \\"ntfytopic\\": \\"t\\", \\"ntfyPriority\\": \\"high\\"}"}]'
HOSTILE_KUMA: dict[str, tuple[str, str]] = {
    "infinity": (_kuma("Infinity"), r"not JSON \(Infinity"),
    "nan": (_kuma("NaN"), r"not JSON \(NaN"),
    "deep nesting": ('{"monitorList": [' + "[" * 100_000 + "]" * 100_000 + "]}", "nested more than 64 levels"),
    "id above 2^63": (_kuma(kuma_id="99999999999999999999"), "larger than a database can store"),
    "lone surrogate": (_kuma(name="W\\udc00b"), "lone UTF-16 surrogate"),
    "bad priority": (_kuma(extra=NTFY_HIGH), ""),
}


@pytest.mark.parametrize("kind", list(HOSTILE_KUMA))
def test_calcifer_import_kuma_answers_a_hostile_backup_with_one_line_and_no_traceback(
        ctx: AppContext, cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    text, match = HOSTILE_KUMA[kind]
    source = tmp_path / "kuma.json"
    source.write_text(text, encoding="utf-8")
    result = run_cli(ctx, monkeypatch, "import-kuma", str(source), "--user", "eddie", "--dry-run")
    if not match:  # a notification that cannot be mapped is reported, the monitors still import
        assert result.exit_code == 0, result.output + repr(result.exception)
        assert "ntfy priority 'high' is not a number from 1 to 5" in result.stdout
        return
    assert_one_line_error(result, match)


def test_kuma_slugs_normalise_one_character_at_a_time_so_time_grows_linearly_with_a_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Normalising a whole name sorts its runs of combining marks by insertion (quadratic: 3 s for
    20,000 characters); one character at a time gives the same letters."""
    longest = 0
    real = unicodedata.normalize

    def spy(form: str, text: str) -> str:
        nonlocal longest
        longest = max(longest, len(text))
        return real(form, text)

    monkeypatch.setattr(kuma.unicodedata, "normalize", spy)
    name = "Ça va " + "a\u0316\u0301" * 10_000 + " ﬁnal"
    data = {"monitorList": [{"id": 1, "name": name, "type": "http", "url": "https://web.example.org"}]}
    [endpoint] = kuma.plan(data=data, taken=set()).endpoints
    assert endpoint.slug.startswith("ca-va-aaaa") and len(endpoint.slug) == 63
    assert longest <= 1
    assert kuma.slugify("Ça va ﬁnal") == "ca-va-final"


# -- calcifer export ---------------------------------------------------------------------------------------------

SLACK = "slack://T0SECRET/B0SECRET/XSECRETTOKEN"
JSON_HOOK = "json://user:pa55word@hooks.example.org:8443/path/s3cr3t?token=abc123"


def _channels(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        admin = auth_service.get_user_by_username(session=session, username="alice")
        notify.create_channel(session=session, actor=admin, name="team", url=SLACK)
        notify.create_channel(session=session, actor=admin, name="hook", url=JSON_HOOK)


def test_an_export_without_secrets_shows_notification_urls_only_as_the_ui_does(ctx: AppContext, cast: Cast) -> None:
    _channels(ctx)
    text = export.export_text(engine=ctx.engine)
    for secret in ("SECRET", "pa55word", "s3cr3t", "abc123", "8443", "user:"):
        assert secret not in text
    urls = {row["name"]: row["url"] for row in json.loads(text)["tables"]["notify_channels"]}
    assert urls == {"team": notify.mask_url(SLACK), "hook": notify.mask_url(JSON_HOOK)}
    assert urls["hook"] == "json://hooks.example.org…" and urls["team"] == "slack://…"
    full = json.loads(export.export_text(engine=ctx.engine, include_secrets=True))
    assert {row["url"] for row in full["tables"]["notify_channels"]} == {SLACK, JSON_HOOK}


@pytest.mark.parametrize("secrets", [False, True])
def test_calcifer_export_writes_its_file_0600_into_new_folders_0700(
        ctx: AppContext, cast: Cast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secrets: bool) -> None:
    make_work_item(cast.editor, title="Tune alerts")
    output = tmp_path / "exports" / "nightly" / "calcifer.json"
    previous = os.umask(0o022)  # the usual umask, under which a plain open() makes 0644 files
    try:
        result = run_cli(ctx, monkeypatch, "export", "--output", str(output),
                         *(["--include-secrets"] if secrets else []))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert stat.S_IMODE(output.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "exports").stat().st_mode) == 0o700
    assert [p.name for p in output.parent.iterdir()] == ["calcifer.json"], "no temporary file left"
    assert json.loads(output.read_text())["secrets_included"] is secrets
