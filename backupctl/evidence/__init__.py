"""Evidence for an auditor, one job per module.

* :mod:`backupctl.evidence.audit`: the append-only, hash-chained audit log beside the backups.
* :mod:`backupctl.evidence.verify`: check a store against its policy (coverage, over-retention,
  integrity).
* :mod:`backupctl.evidence.checks`: the typed findings and the ``CHECKS`` registry every report
  loops over.
* :mod:`backupctl.evidence.metrics`: the Prometheus textfile.
* :mod:`backupctl.evidence.proof_model`: build the proof document (proof.json's content) and its
  hash; pure.
* :mod:`backupctl.evidence.proof_html`: render the document as one self-contained proof.html.
* :mod:`backupctl.evidence.proof_files`: the renderer table, writing proof.json and every
  rendered file, and ``proof check``.
"""
