"""The ``tagstream`` command line."""
