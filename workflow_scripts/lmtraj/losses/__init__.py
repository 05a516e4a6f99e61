"""losses stage: per-token NLL of every checkpoint, validation perplexity, trajectory matrices."""
