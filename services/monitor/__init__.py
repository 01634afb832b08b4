"""The monitor process: follows tags, shadow tags, labels and model cards; publishes drift and quality."""
