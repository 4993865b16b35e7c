"""The ``asyndbt`` command line. It only parses arguments, calls the library and prints.

``_main``: run, compare, eval, predict, tasks, models; ``_flower``: the ``asyndbt flower ...`` group;
``_progress``: the live progress display. The work itself lives in :mod:`asyndbt.commands`, the
session and the runtimes.
"""

from asyndbt.cli._main import app, main

__all__ = ["app", "main"]
