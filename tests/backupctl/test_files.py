"""publish_new: a finished temp file gets its name only if nothing has it, with or without
hard links; nothing in the way (file, directory, symlink) is ever replaced or followed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from backupctl.files import publish_new


def _temp(folder: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(dir=folder)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return tmp


@pytest.mark.parametrize("links", [True, False])
def test_the_name_is_taken_once_and_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    if not links:

        def no_link(src: Any, dst: Any) -> None:
            raise OSError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "manifest.json"
    publish_new(_temp(tmp_path, b"first"), target)
    assert target.read_bytes() == b"first"
    second = _temp(tmp_path, b"second")
    with pytest.raises(FileExistsError):
        publish_new(second, target)
    assert target.read_bytes() == b"first"
    os.unlink(second)
    (tmp_path / "elsewhere").write_bytes(b"outside")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    third = _temp(tmp_path, b"third")
    with pytest.raises(FileExistsError):
        publish_new(third, link)  # a symlink in the way is neither followed nor replaced
    assert (tmp_path / "elsewhere").read_bytes() == b"outside" and link.is_symlink()
    os.unlink(third)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "link", "manifest.json"]


def test_another_failure_is_raised_and_the_temp_file_left_to_the_caller(tmp_path: Path) -> None:
    tmp = _temp(tmp_path, b"data")
    with pytest.raises(FileNotFoundError):
        publish_new(tmp, tmp_path / "no-such-folder" / "x")
    assert Path(tmp).exists()
