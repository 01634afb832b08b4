"""The rollout controller's process: ``tagstream rollout controller`` (``python -m services.controller``)."""
