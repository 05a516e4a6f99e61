"""families stage: several model suites ("families"), each with its own tokenizer, compared in one run;
e.g. texts decoded by one family's models scored by another family's checkpoints (paper §4.3, Fig. 7)."""
