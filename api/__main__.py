"""``python -m api`` runs the tsapi command."""

from api.cli import main

main()
