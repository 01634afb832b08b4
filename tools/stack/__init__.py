"""The local stack without Docker: Tansu (Kafka), PyTriton and the taggers, under a small supervisor.

``tagstream up`` / ``status`` / ``down`` drive it from the shell; tests use ``LocalStack`` directly.
"""

from tools.stack.errors import (
    ComponentFailedError,
    MissingBinaryError,
    PortInUseError,
    StackError,
    StackRunningError,
)
from tools.stack.settings import StackSettings
from tools.stack.stack import ComponentStatus, LocalStack
from tools.stack.supervisor import ManagedProcess, PortClaim

__all__ = ["ComponentFailedError", "ComponentStatus", "LocalStack", "ManagedProcess", "MissingBinaryError",
           "PortClaim", "PortInUseError", "StackError", "StackRunningError", "StackSettings"]
