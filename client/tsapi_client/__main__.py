"""``python -m tsapi_client`` runs the client's command line (needs the ``cli`` extra)."""

from tsapi_client.cli import main

main()
