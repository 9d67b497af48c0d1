"""The private-pcscd helper quotes every path it puts into its ``bash -c`` script
(security review: a directory name must never be interpreted by the shell)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from simulators.pcscd_private import PrivatePcscd, pcscd_script
from tests.pcscd import start_private_pcscd

HOSTILE = 'it\'s a "dir" $(touch PWNED) `touch PWNED2`; touch PWNED3 & x'


def _fake_tools(bin_dir: Path, log: Path) -> dict[str, str]:
    """``mount`` and ``pcscd`` that only record their arguments, one per line."""
    bin_dir.mkdir()
    for tool in ("mount", "pcscd"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\nprintf "%s\\n" "{tool}" "$@" >> "{log}"\n')
        script.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def test_script_passes_hostile_paths_literally(tmp_path: Path) -> None:
    base = tmp_path / HOSTILE
    run_dir, conf_dir = base / "run", base / "reader.conf.d"
    log = tmp_path / "calls.log"
    env = _fake_tools(tmp_path / "bin", log)
    subprocess.run(
        ["bash", "-c", pcscd_script(run_dir, conf_dir)], cwd=tmp_path, env=env, check=True
    )
    calls = log.read_text().splitlines()
    assert calls == [
        "mount", "-t", "tmpfs", "tmpfs", "/run/pcscd",
        "mount", "--bind", str(run_dir), "/run/pcscd",
        "pcscd", "-f", "-c", str(conf_dir),
    ]  # fmt: skip
    assert not list(tmp_path.glob("PWNED*"))


def test_start_uses_the_quoted_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``start()`` hands exactly ``pcscd_script(...)`` to ``bash -c`` (pcscd not run)."""
    import simulators.pcscd_private as module

    if os.geteuid() != 0:
        pytest.skip("start() creates /run/pcscd, which needs root")
    seen: list[list[str]] = []

    class Stop(Exception):
        pass

    def fake_popen(argv: list[str], **kwargs: object) -> None:
        seen.append(list(argv))
        raise Stop

    monkeypatch.setattr(module, "missing_requirements", lambda: [])
    monkeypatch.setattr(module.subprocess, "Popen", fake_popen)
    monkeypatch.chdir(tmp_path)
    (tmp_path / HOSTILE).mkdir()
    pcscd = PrivatePcscd(tmp_path / HOSTILE, base_port=40000)
    with pytest.raises(Stop):
        pcscd.start()
    assert seen and seen[0][-3:-1] == ["bash", "-c"]
    assert seen[0][-1] == pcscd_script(pcscd.run_dir, pcscd.conf_dir)
    assert not list(tmp_path.glob("PWNED*"))


@pytest.mark.pcsc
def test_private_pcscd_in_hostile_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an injected `touch` would land here
    directory = tmp_path / HOSTILE
    directory.mkdir()
    pcscd = start_private_pcscd(directory, slots=2)
    try:
        assert pcscd.socket_path.exists()
    finally:
        pcscd.stop()
    assert not list(tmp_path.glob("PWNED*")) and not list(directory.glob("PWNED*"))
