"""Pruning a store, one job per module.

* :mod:`backupctl.prune.runner`: the run plan (pure: listing + policy -> what to delete, what
  to refuse) and its execution against a store.
* :mod:`backupctl.prune.resume`: which interrupted deletions may be finished (a journal is only
  a hint).
* :mod:`backupctl.prune.lock`: the store-side lock that keeps two prunes apart.
"""
