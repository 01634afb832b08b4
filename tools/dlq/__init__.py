"""Dead-letter operations: list and show what the tagger could not process, and replay it once fixed."""
