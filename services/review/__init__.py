"""The review console: a person confirms or corrects doubtful tags; decisions become labels on ``catalog.labels``."""
