"""Infrastructure every layer may use: the project lock, progress reporting, failpoints
for fault tests, and atomic file writes. Nothing here knows about labels or models."""
