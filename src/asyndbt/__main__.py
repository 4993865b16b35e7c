"""``python -m asyndbt`` runs the CLI (same as the ``asyndbt`` command)."""

from asyndbt.cli import main

main()
