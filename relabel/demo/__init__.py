"""The bundled demo: scikit-learn's digits written as images with injected noise, simulated
reviewers answering through the real Label Studio API, and the demo loop."""
