"""``python -m bench`` runs the benchmark."""

from bench.cli import main

main()
