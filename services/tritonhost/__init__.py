"""The local Triton host: the real ``tritonserver`` (PyTriton) serving ``catalog_tagger`` on this machine.

Run it with ``python -m services.tritonhost``; ``tagstream up`` starts it as the stack's "triton" component.
"""

from services.tritonhost.settings import TritonHostSettings

__all__ = ["TritonHostSettings"]
