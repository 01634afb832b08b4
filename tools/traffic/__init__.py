"""Traffic tools: synthetic catalogue events, a paced producer, and a tail for any tagstream topic.

``tagstream produce`` and ``tagstream tail`` (registered by :func:`tools.traffic.cli.register`)
are how a person or a load test feeds the pipeline and watches what comes out of it.
"""

from tools.traffic.synthetic import (
    EXPECTED_ERRORS,
    MALFORMED_KINDS,
    GeneratedRecord,
    generate,
    malformed_plan,
)

__all__ = ["EXPECTED_ERRORS", "MALFORMED_KINDS", "GeneratedRecord", "generate", "malformed_plan"]
