"""Bulk ingest: request bodies (JSON, CSV, InfluxDB line protocol) into columnar batches.

``body`` streams and decodes the request body, ``jsonfmt``/``csvfmt``/``lineproto`` turn it
into :class:`tsdb.bulk.Batch` objects, and ``run`` hands them to :class:`tsdb.bulk.BulkWriter`.
"""
