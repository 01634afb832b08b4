"""Pieces every tagstream process shares: the settings base, Kafka clients, logging."""
