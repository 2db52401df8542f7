"""Source data: generation, source contracts and checks, the quarantine."""
