"""The local stack without Docker: Tansu (Kafka), PyTriton and the taggers, under a small supervisor.

``tagstream up`` / ``status`` / ``down`` drive it from the shell; tests use ``LocalStack`` directly.
"""

from services.stack.errors import (
    ComponentFailedError,
    MissingBinaryError,
    PortInUseError,
    StackError,
    StackRunningError,
)
from services.stack.settings import StackSettings
from services.stack.stack import ComponentStatus, LocalStack
from services.stack.supervisor import ManagedProcess, PortClaim

__all__ = ["ComponentFailedError", "ComponentStatus", "LocalStack", "ManagedProcess", "MissingBinaryError",
           "PortClaim", "PortInUseError", "StackError", "StackRunningError", "StackSettings"]
