"""``python -m tsapi`` runs the tsapi command."""

from tsapi.cli import main

main()
