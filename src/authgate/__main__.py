"""``python -m authgate`` is the ``authgate`` command."""

from authgate.cli.main import main

main()
