"""The ``tsapi`` command line: the top layer, over ``api``, ``workers``, ``core`` and ``tsdb``.

:mod:`tsapi.cli` holds the command group; each subcommand lives in its own module and is
imported only when it runs (``tsapi --help`` imports none of them). The client commands
(``series``, ``write``, ``query``...) come from the ``tsapi-client`` distribution.
"""
