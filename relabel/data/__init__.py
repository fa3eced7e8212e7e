"""The dataset edge: reading manifests and image folders, validating rows, decoding and
checking images, and (for demos and benchmarks) injecting label noise."""
