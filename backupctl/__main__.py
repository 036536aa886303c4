"""``python -m backupctl``: the same CLI as the ``backupctl`` script."""

from backupctl.cli import main

main()
