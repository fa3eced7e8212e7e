"""The pure ranking core: scores of how likely each given label is wrong, confident-learning
estimates, lanes and the metrics that measure a ranking. numpy in, numpy out; no I/O."""
