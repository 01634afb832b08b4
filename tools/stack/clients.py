"""Clients of the services a local stack runs, pointed at its ports and holding its secrets."""

from __future__ import annotations

from rollout.client import RolloutClient, RolloutClientSettings
from tools.stack.secrets import ROLLOUT_API_TOKEN, secret_file
from tools.stack.settings import LOOPBACK, StackSettings


def rollout_client(settings: StackSettings) -> RolloutClient:
    """The rollout controller's operator API of the stack, with the token the stack wrote for it."""
    return RolloutClient(RolloutClientSettings(
        rollout_api_url=f"http://{LOOPBACK}:{settings.controller_port}", rollout_api_token=None,
        rollout_api_token_file=secret_file(settings.secrets_dir, ROLLOUT_API_TOKEN)))
