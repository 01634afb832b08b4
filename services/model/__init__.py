"""The multi-task catalogue model: attribute taxonomy, network, serving contract."""
