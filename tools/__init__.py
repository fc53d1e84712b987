"""Developer tools: the pre-training corpus builder and scripts; not part of the harness."""
