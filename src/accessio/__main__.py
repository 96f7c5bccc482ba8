"""``python -m accessio`` runs the command line."""

from accessio.cli import main

main()
