"""The proof's files: proof.json, every format in :data:`RENDERERS`, and ``proof check``.

proof.json is the document itself (:func:`~backupctl.evidence.proof_model.proof_json`); every other
file is rendered from the document and proof.json's SHA-256. Adding a format (a PDF, a CSV for a GRC
tool) is one :class:`Renderer` entry in :data:`RENDERERS`: :func:`write_proof` writes it and, if the
format records the hash, :func:`check_proof` checks it.

With a signing key, :func:`write_proof` also writes ``proof.json.sig``: ``{"version": 1,
"algorithm": "ed25519", "key_id", "signature"}``, the Ed25519 signature (hex) of proof.json's
exact bytes. :func:`check_proof` with a public key requires it: someone who edits proof.json
and re-embeds its hash in proof.html cannot make it. A proof signed after a key rotation
carries the log's ``key.rotate`` records (``audit.rotations``), so the key the log began with
still checks it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupctl.errors import ViolationFound
from backupctl.evidence import proof_html
from backupctl.evidence.proof_model import proof_json, proof_sha256
from backupctl.untrusted import UntrustedInput, loads

if TYPE_CHECKING:
    from backupctl.evidence.signing import Signer, Verifier

__all__ = [
    "JSON_NAME",
    "RENDERERS",
    "SIG_NAME",
    "CheckedProof",
    "Renderer",
    "WrittenProof",
    "check_proof",
    "write_proof",
]

JSON_NAME = "proof.json"
SIG_NAME = "proof.json.sig"
_MAX_JSON = 256 << 20  # proof.json of a long period with many snapshots; still bounded


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
    """What :func:`write_proof` wrote.

    proof.json, its SHA-256, and each rendered file by format name.
    """

    json_path: Path
    digest: str
    files: dict[str, Path]
    sig_path: Path | None = None  # proof.json.sig, when a signing key was given


@dataclass(frozen=True)
class CheckedProof:
    """What :func:`check_proof` found: proof.json's SHA-256, the files that record it, and
    the id of the key whose signature was checked (None: not checked)."""

    digest: str
    files: list[Path]
    key_id: str | None = None
    signed: bool = False  # proof.json.sig exists (checked only when key_id is set)


def write_proof(out_dir: Path, proof: dict[str, Any], signer: Signer | None = None) -> WrittenProof:
    """Write proof.json and every format in :data:`RENDERERS` into ``out_dir`` (created), and
    with ``signer`` proof.json.sig.

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
    sig_path = None
    if signer is not None:
        sig_path = out_dir / SIG_NAME
        sig = {
            "version": 1,
            "algorithm": "ed25519",
            "key_id": signer.key_id,
            "signature": signer.sign(data),
        }
        sig_path.write_bytes((json.dumps(sig, indent=2) + "\n").encode())
    return WrittenProof(json_path=json_path, digest=digest, files=files, sig_path=sig_path)


def _check_signature(out_dir: Path, data: bytes, verifier: Verifier) -> str:
    """proof.json.sig must be a valid signature of ``data`` by ``verifier``'s key, or by the
    key the proof's own ``audit.rotations`` hand the trust on to. Returns that key's id.

    Raises:
        ViolationFound: the signature is missing, malformed, by another key, or wrong.
    """
    from backupctl.evidence.audit import key_after_rotations

    sig_path = out_dir / SIG_NAME
    if not sig_path.is_file():
        raise ViolationFound(
            f"proof check: {sig_path} is missing, but a public key was given: the proof is "
            "unsigned (made without [audit] signing_key_file, or the signature was removed)"
        )
    try:
        with sig_path.open("rb") as fh:
            raw = fh.read((64 << 10) + 1)
        sig = loads(raw, f"proof check: {sig_path}", max_bytes=64 << 10)
    except OSError as exc:
        raise ViolationFound(f"proof check: cannot read {sig_path} ({exc.strerror})") from None
    except UntrustedInput as exc:
        raise ViolationFound(f"{exc}: the signature file was damaged or replaced") from None
    if not isinstance(sig, dict) or sig.get("algorithm") != "ed25519":
        raise ViolationFound(
            f'proof check: {sig_path}: expected {{"algorithm": "ed25519", "key_id", "signature"}}'
        )
    key = verifier
    if sig.get("key_id") != verifier.key_id:
        try:
            doc = loads(data, f"proof check: {JSON_NAME}", max_bytes=_MAX_JSON)
        except UntrustedInput as exc:
            raise ViolationFound(str(exc)) from None
        audit = doc.get("audit") if isinstance(doc, dict) else None
        rotations = audit.get("rotations") if isinstance(audit, dict) else None
        if isinstance(rotations, list) and rotations:
            key, problems = key_after_rotations(verifier, rotations)
            if problems:
                raise ViolationFound(
                    f"proof check: {JSON_NAME}'s key rotations do not start from the given key "
                    f"{verifier.key_id[:16]}…: {problems[0]}"
                )
        if sig.get("key_id") != key.key_id:
            raise ViolationFound(
                f"proof check: {SIG_NAME} is signed by key {str(sig.get('key_id'))[:16]}…, not by "
                f"the given key {verifier.key_id[:16]}… (nor a key it was rotated to)"
            )
    if not key.verify(sig.get("signature"), data):
        raise ViolationFound(
            f"proof check: {SIG_NAME} is not a valid signature of {JSON_NAME} by key "
            f"{key.key_id[:16]}…: {JSON_NAME} was changed after the proof was signed"
        )
    return key.key_id


def check_proof(out_dir: Path, verifier: Verifier | None = None) -> CheckedProof:
    """Recompute proof.json's SHA-256 and compare it with the one each rendered file records.

    proof.html records it in ``<meta name="proof-json-sha256">``. With ``verifier``, check
    proof.json.sig too.

    Raises:
        ViolationFound: a file is missing, a file carries no hash, the hashes differ, or (with
            ``verifier``) the signature is missing or does not verify.
    """
    json_path = out_dir / JSON_NAME
    carriers = [
        (out_dir / r.file_name, r.recorded_digest) for r in RENDERERS.values() if r.recorded_digest
    ]
    for p in (json_path, *(path for path, _ in carriers)):
        if not p.is_file():
            raise ViolationFound(f"proof check: {p} is missing")
    data = json_path.read_bytes()
    actual = proof_sha256(data)
    for path, read_digest in carriers:
        recorded = read_digest(path.read_bytes())
        if recorded is None:
            raise ViolationFound(f"proof check: {path} carries no proof-json-sha256")
        if recorded != actual:
            raise ViolationFound(
                f"proof check: {JSON_NAME} has SHA-256 {actual}, but {path.name} records "
                f"{recorded}: {JSON_NAME} was changed after the proof was made"
            )
    key_id = _check_signature(out_dir, data, verifier) if verifier is not None else None
    return CheckedProof(
        digest=actual,
        files=[path for path, _ in carriers],
        key_id=key_id,
        signed=(out_dir / SIG_NAME).is_file(),
    )
