"""The running processes of tagstream and their wiring: tagger, model, Triton host, local stack, CLI."""
