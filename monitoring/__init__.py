"""Drift and quality monitoring (Evidently windows), metric definitions, alert rules and dashboards.

Its inputs already flow: every ``TagPrediction`` carries a ``FeatureSummary`` of its image, and
``catalog.labels`` carries delayed ground truth.
"""
