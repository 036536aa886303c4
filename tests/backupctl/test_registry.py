"""The store registry is the one home of "which URL is which store": config validation,
open_store, open_blobs, the lock and audit locations and the messages all read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backupctl.config import parse_config
from backupctl.errors import ConfigError, UsageError
from backupctl.stores import registry
from backupctl.stores.file import FileStore
from backupctl.stores.locations import audit_blobs_for, lock_blobs_for
from backupctl.stores.registry import (
    KINDS,
    StoreKind,
    expected_urls,
    kind_of,
    open_blobs,
    open_store,
)


def test_every_kind_is_named_in_the_messages() -> None:
    for kind in KINDS:
        assert kind.example in expected_urls()
        assert kind_of(kind.example) is kind
    with pytest.raises(
        ConfigError, match=r"store\.url: expected 's3://bucket/prefix', 'file:///path' or 'restic"
    ):
        parse_config({"store": {"url": "ftp://x"}, "policy": [{"name": "app", "keep_last": 1}]})


@pytest.mark.parametrize(
    ("url", "message"),
    [("s3:///p", "bucket name"), ("file://relative", "absolute"), ("restic:", "repository")],
)
def test_each_kind_checks_its_own_url_form(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"store": {"url": url}, "policy": [{"name": "app", "keep_last": 1}]})


def test_open_blobs_refuses_kinds_without_room() -> None:
    with pytest.raises(UsageError, match="expected 's3://bucket/prefix' or 'file:///path'"):
        open_blobs("restic:/srv/repo")


class ToyStore(FileStore):
    """Stands for a new backend: a store class (here the file store's) behind a new scheme."""

    def __init__(self, config: Any) -> None:
        super().__init__(
            config.__class__(
                **{
                    **config.__dict__,
                    "store": config.store.__class__(
                        **{
                            **config.store.__dict__,
                            "url": "file://" + config.store.url.removeprefix("toy://"),
                        }
                    ),
                }
            )
        )


class ToyBlobs:
    @classmethod
    def from_url(cls, url: str, **_: Any) -> Any:
        from backupctl.stores.blobs import FileBlobs

        return FileBlobs(url.removeprefix("toy://"))


def test_a_new_kind_is_one_row(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Adding a backend takes its classes and one StoreKind row: config, open_store, the lock and
    the audit log, the layout check and the messages follow without other edits."""
    toy = StoreKind(
        "toy",
        "toy://",
        "toy:///path",
        f"{__name__}:ToyStore",
        f"{__name__}:ToyBlobs",
        layout=True,
        problem=lambda url: None if url.startswith("toy:///") else "expected toy:///path",
    )
    monkeypatch.setattr(registry, "KINDS", (*KINDS, toy))
    config = parse_config(
        {"store": {"url": f"toy://{tmp_path}"}, "policy": [{"name": "app", "keep_last": 1}]}
    )
    assert config.store.kind == "toy" and "toy:///path" in expected_urls()
    assert isinstance(open_store(config), ToyStore)
    lock_blobs_for(config).put("_backupctl/x", b"1")
    assert (tmp_path / "_backupctl/x").read_bytes() == b"1" and audit_blobs_for(config).get(
        "_backupctl/x"
    ) == b"1"
    with pytest.raises(
        ConfigError, match="key_template"
    ):  # the layout check applies to the new kind too
        parse_config(
            {
                "store": {"url": f"toy://{tmp_path}", "key_template": "{time}-{group}/"},
                "policy": [{"name": "app", "keep_last": 1}, {"name": "app/db", "keep_last": 1}],
            }
        )
