"""Pre-training and distillation support: unlabelled corpora and their tooling."""
