"""checkpoints stage: the suite (trained, local or hub), training, loading, hub integrity, tokenizers."""
