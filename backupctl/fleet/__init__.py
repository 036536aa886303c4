"""A fleet: many stores run by one ``backupctl fleet …`` process (docs/fleet.md).

* :mod:`.spec`: the fleet file (``FLEET.toml``), its validation and each store's config
  (its own file, or a shared template with per-store variables);
* :mod:`.shard`: the stable split of a fleet by store name (``--shard K/N``);
* :mod:`.jobs`: one store's plan / verify / prune / proof / drill, done in-process through the
  same layers the single-store commands use, returning a small :class:`~.jobs.Outcome`;
* :mod:`.pool`: the bounded thread pool running the jobs;
* :mod:`.report`: exit-code severity, the summary, the JSON document, the proof index page and
  ``fleet merge``.
"""

from __future__ import annotations
