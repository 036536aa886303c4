"""Evidence for an auditor: the retention proof, split into one job per module.

* :mod:`backupctl.evidence.proof_model`: build the proof document (proof.json's content) and its hash; pure.
* :mod:`backupctl.evidence.proof_html`: render the document as one self-contained proof.html.
* :mod:`backupctl.evidence.proof_files`: the renderer table, writing proof.json and every rendered file, and
  ``proof check``.
"""
