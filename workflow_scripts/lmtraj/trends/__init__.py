"""trends stage: stagnated / upward / downward tokens, double descent, same-tokens overlap (paper §3)."""
