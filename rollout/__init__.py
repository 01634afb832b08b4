"""Staged rollouts of a new model version: plan, state machine, guardrails, controller, operator API.

Taggers learn the rollout state from the compacted ``tagstream.rollout`` topic (``RolloutState``
in ``contracts``), never by importing this package.
"""
