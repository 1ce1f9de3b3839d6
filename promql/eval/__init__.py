"""Evaluation of parsed PromQL over a :class:`~promql.model.Source`."""
