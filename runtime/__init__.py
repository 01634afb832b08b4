"""What every tagstream process shares: the settings base, Kafka clients, logging, the health server."""
