"""The relabel loop: binds a project to Label Studio, pushes what the review domain planned,
pulls and applies answers exactly once, and runs cycles (train, push, pull, retrain,
evaluate) step by step, resumably."""
