"""The proof's files: proof.json, every format in :data:`RENDERERS`, and ``proof check``.

proof.json is the document itself (:func:`~backupctl.evidence.proof_model.proof_json`); every other
file is rendered from the document and proof.json's SHA-256. Adding a format (a PDF, a CSV for a GRC
tool) is one :class:`Renderer` entry in :data:`RENDERERS`: :func:`write_proof` writes it and, if the
format records the hash, :func:`check_proof` checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backupctl.errors import ViolationFound
from backupctl.evidence import proof_html
from backupctl.evidence.proof_model import proof_json, proof_sha256

__all__ = [
    "JSON_NAME",
    "RENDERERS",
    "CheckedProof",
    "Renderer",
    "WrittenProof",
    "check_proof",
    "write_proof",
]

JSON_NAME = "proof.json"


@dataclass(frozen=True)
class Renderer:
    """One output format of the proof besides proof.json.

    Attributes:
        file_name: the file it is written to, inside the proof's directory.
        render: ``(proof document, proof.json's SHA-256) -> the file's bytes``; pure.
        recorded_digest: reads back, from the file's bytes, the proof.json SHA-256 it records
            (None: it records none); ``proof check`` compares it. None: the format records no hash.
    """

    file_name: str
    render: Callable[[dict[str, Any], str], bytes]
    recorded_digest: Callable[[bytes], str | None] | None = None


RENDERERS: dict[str, Renderer] = {  # format name -> renderer, written in this order
    "html": Renderer("proof.html", proof_html.render, proof_html.recorded_digest),
}


@dataclass(frozen=True)
class WrittenProof:
    """What :func:`write_proof` wrote: proof.json, its SHA-256, and each rendered file by format name."""

    json_path: Path
    digest: str
    files: dict[str, Path]


@dataclass(frozen=True)
class CheckedProof:
    """What :func:`check_proof` found: proof.json's SHA-256, and the files that record it."""

    digest: str
    files: list[Path]


def write_proof(out_dir: Path, proof: dict[str, Any]) -> WrittenProof:
    """Write proof.json and every format in :data:`RENDERERS` into ``out_dir`` (created).

    Raises:
        OSError: the directory or files cannot be written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = proof_json(proof)
    digest = proof_sha256(data)
    json_path = out_dir / JSON_NAME
    json_path.write_bytes(data)
    files: dict[str, Path] = {}
    for name, renderer in RENDERERS.items():
        files[name] = out_dir / renderer.file_name
        files[name].write_bytes(renderer.render(proof, digest))
    return WrittenProof(json_path=json_path, digest=digest, files=files)


def check_proof(out_dir: Path) -> CheckedProof:
    """Recompute proof.json's SHA-256 and compare it with the one each rendered file records (proof.html's
    ``<meta name="proof-json-sha256">``).

    Raises:
        ViolationFound: a file is missing, a file carries no hash, or the hashes differ.
    """
    json_path = out_dir / JSON_NAME
    carriers = [
        (out_dir / r.file_name, r.recorded_digest) for r in RENDERERS.values() if r.recorded_digest
    ]
    for p in (json_path, *(path for path, _ in carriers)):
        if not p.is_file():
            raise ViolationFound(f"proof check: {p} is missing")
    actual = proof_sha256(json_path.read_bytes())
    for path, read_digest in carriers:
        recorded = read_digest(path.read_bytes())
        if recorded is None:
            raise ViolationFound(f"proof check: {path} carries no proof-json-sha256")
        if recorded != actual:
            raise ViolationFound(
                f"proof check: {JSON_NAME} has SHA-256 {actual}, but {path.name} records "
                f"{recorded}: {JSON_NAME} was changed after the proof was made"
            )
    return CheckedProof(digest=actual, files=[path for path, _ in carriers])
