"""bigbench stage: BIG-bench task files, 2-shot prompts, option scoring and accuracies (paper §5)."""
