"""`backupctl init` writes a valid commented config; the README's reference is in sync."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from backupctl.cli import main
from backupctl.config import POLICY_SCHEMA, SCHEMA, load_config
from backupctl.configref import reference_markdown, update_readme
from retention import SLA_APP, SLA_SERVER

README = Path(__file__).resolve().parents[2] / "README.md"


def test_init_writes_the_sla_config(tmp_path: Path) -> None:
    target = tmp_path / "b.toml"
    result = CliRunner().invoke(main, ["init", "--config", str(target), "--url", "s3://bk/salure"])
    assert result.exit_code == 0, result.output
    config = load_config(target)
    assert config.store.url == "s3://bk/salure"
    assert {p.name: p.policy for p in config.policies} == {"app": SLA_APP, "server": SLA_SERVER}
    assert config.drill.target == "1 working day"


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "b.toml"
    target.write_text("keep me")
    result = CliRunner().invoke(main, ["init", "--config", str(target)])
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert target.read_text() == "keep me"


def test_reference_names_every_key() -> None:
    ref = reference_markdown()
    for keys in [*SCHEMA.values(), POLICY_SCHEMA]:
        for name in keys:
            assert f"| `{name}` |" in ref


def test_readme_reference_is_in_sync() -> None:
    text = README.read_text(encoding="utf-8")
    assert update_readme(text) == text, (
        "README.md config reference is stale: python -m backupctl.configref --write"
    )
