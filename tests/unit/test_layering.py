"""The import-linter contracts of pyproject.toml (the layering of DESIGN.md) hold: run here so
the test command, and CI with it, fails when a change breaks one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(command), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def contract_section(name: str) -> str:
    """pyproject.toml's import-linter settings with only the contract called `name`."""
    text = (ROOT / "pyproject.toml").read_text()
    settings = text[text.index("[tool.importlinter]"):text.index("[[tool.importlinter.contracts]]")]
    blocks = text.split("[[tool.importlinter.contracts]]")[1:]
    chosen = next(b for b in blocks if f'name = "{name}"' in b)
    return f"{settings}[[tool.importlinter.contracts]]{chosen}"


def test_every_import_contract_is_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_broken_contract_fails_the_run(tmp_path: Path) -> None:
    """The same contracts over a copy where a connector imports the reconciler: lint-imports
    reports it and exits non-zero, so the test above cannot pass on a broken layering."""
    for package in ("connectors", "reconciler", "workers"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "connectors" / "base.py").write_text("import reconciler.store\n")
    (tmp_path / "reconciler" / "store.py").write_text("")
    config = tmp_path / "contracts.toml"
    config.write_text(contract_section("Connectors never import the reconciler or the workers"))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", str(config)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert result.returncode != 0
    assert "Connectors never import the reconciler or the workers BROKEN" in result.stdout


def test_the_pipeline_naming_a_source_breaks_the_sources_contract(tmp_path: Path) -> None:
    """Nothing in the ignore list lets the pipeline or the Slack app's intake name a source any
    more: a copy where the pipeline imports the Slack connector breaks the contract."""
    for package in ("connectors", "connectors/slack", "reconciler", "reconciler/slackapp", "workers"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for module in ("base", "plugin", "registry", "slack/connector", "slack/client", "asana"):
        (tmp_path / "connectors" / f"{module}.py").write_text("")
    (tmp_path / "connectors" / "sandbox.py").write_text("")
    (tmp_path / "reconciler" / "pipeline.py").write_text("import connectors.slack.connector\n")
    (tmp_path / "reconciler" / "slackapp" / "events.py").write_text("import connectors.plugin\n")
    config = tmp_path / "contracts.toml"
    config.write_text(contract_section("Only the composition root and the registry name concrete sources"))
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", str(config)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert result.returncode != 0
    assert "reconciler.pipeline -> connectors.slack.connector" in result.stdout
