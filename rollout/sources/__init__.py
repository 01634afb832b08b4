"""Where guardrail figures come from: the topics themselves (built in) or a Prometheus server."""
