"""The production layout in the repository: systemd units that systemd accepts, and a compose.yaml that
Calcifer's own compose discovery reads without a problem (docs/deployment.md)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from calcifer.catalog.compose import discover

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "contrib" / "systemd").glob("*.service"))
INSTALLED = "/opt/calcifer/bin/calcifer"
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
             "PrivateDevices": "yes", "RestrictSUIDSGID": "yes", "CapabilityBoundingSet": ""}


def _service(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return parser["Service"]


def test_there_are_units_for_the_web_app_the_worker_and_the_probe() -> None:
    assert [unit.name for unit in UNITS] == ["calcifer-probe.service", "calcifer-web.service",
                                             "calcifer-worker.service"]
    commands = {unit.name: _service(unit)["ExecStart"].split()[:2] for unit in UNITS}
    assert commands == {"calcifer-probe.service": [INSTALLED, "probe"], "calcifer-web.service": [INSTALLED, "serve"],
                        "calcifer-worker.service": [INSTALLED, "worker"]}


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_each_unit_runs_unprivileged_and_hardened(unit: Path) -> None:
    service = _service(unit)
    assert service["User"] == "calcifer"
    assert {key: service.get(key) for key in HARDENING} == HARDENING
    writable = service["ReadWritePaths"].split()
    assert writable and all(path.startswith("/var/lib/calcifer") for path in writable)


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing: `make servers` installs it (tests/servers/debian/deployment.txt)")
    # verify checks that ExecStart's program exists: a stand-in for the installed one, at one seam
    program = tmp_path / "bin" / "calcifer"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, str(program)))
    result = subprocess.run([analyze, "verify", "--man=no", *(str(tmp_path / unit.name) for unit in UNITS)],
                            capture_output=True, text=True, timeout=120, check=False)
    # systemd-analyze prints notes about the container it runs in (PID 1 unreadable): not about the units
    complaints = [line for line in result.stderr.splitlines() if "calcifer" in line]
    assert result.returncode == 0 and complaints == [], result.stderr


def test_compose_discovery_reads_the_compose_file_without_problems(tmp_path: Path) -> None:
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    [project] = discover(roots=[tmp_path], env={"CALCIFER_DB_PASSWORD": "a-long-random-string"})
    assert project.name == "calcifer"
    assert project.problems == [] and not project.refused
    services = {service.name: service for service in project.services}
    assert sorted(services) == ["db", "probe", "web", "worker"]
    assert {services[name].image for name in ("web", "worker", "probe")} == {"localhost/calcifer:latest"}
    assert services["web"].build == "."
    assert [services[name].command.split()[0] for name in ("web", "worker", "probe")] == ["serve", "worker", "probe"]
    assert services["worker"].depends_on_conditions == {"web": "service_healthy"}
    assert services["web"].depends_on_conditions == {"db": "service_healthy"}
    assert "data:/var/lib/calcifer" in services["web"].volumes
    assert services["web"].volumes == services["worker"].volumes  # the secret key is shared


def test_compose_refuses_to_start_without_a_database_password(tmp_path: Path) -> None:
    shutil.copy(ROOT / "compose.yaml", tmp_path / "compose.yaml")
    [project] = discover(roots=[tmp_path], env={})
    assert project.refused
    assert "CALCIFER_DB_PASSWORD" in project.problems[0].message
