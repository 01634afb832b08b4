"""Developer tools: the local stack, synthetic traffic, benchmarks, and the one ``tagstream`` CLI."""
