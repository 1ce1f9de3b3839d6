"""The tsapi benchmark: the REST API against raw Redis TimeSeries on the same server.

Run it with ``make bench`` or ``python -m bench --help``; README.md in this folder says
what each row of the table means.
"""
