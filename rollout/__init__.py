"""Staged rollouts of a new model version: plan, state machine, guardrails, controller, operator API.

Taggers learn the rollout state from the compacted ``tagstream.rollout`` topic (``RolloutState`` in ``contracts``),
never from the controller's process: they follow the topic with ``statetopic.RolloutFollower`` and route each event
with ``routing.route``.
"""
