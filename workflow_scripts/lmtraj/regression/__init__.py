"""regression stage: does perplexity predict accuracy better than size or compute? and the findings."""
