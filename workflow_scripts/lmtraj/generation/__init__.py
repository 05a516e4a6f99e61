"""generation stage: texts decoded from mixtures of two models and their perplexity (paper §4)."""
