"""Rollup tiers: per-bucket sums, counts, extremes, first/last values and variances of a
series, kept exact as the series changes, and read in place of raw samples when they can give
the same answer.

- :mod:`~tsdb.rollups.models`: tiers, their parts, policies.
- :mod:`~tsdb.rollups.config`: which series have tiers; making and removing tier series.
- :mod:`~tsdb.rollups.policies`: tiers by label filter, for series created later too.
- :mod:`~tsdb.rollups.maintain` (with ``rollups.lua``): filling tiers forward and recomputing
  the buckets raw changes touched, in bounded steps.
- :mod:`~tsdb.rollups.hooks`: the calls the store and the bulk writer make.
- :mod:`~tsdb.rollups.plan`, :mod:`~tsdb.rollups.compose`, :mod:`~tsdb.rollups.read`:
  answering aggregated reads from tiers.
- :mod:`~tsdb.rollups.manage`: what the API and the backfill job do with tiers.

Nothing is imported here: the store imports :mod:`~tsdb.rollups.hooks`, and the read side
imports the store.
"""
