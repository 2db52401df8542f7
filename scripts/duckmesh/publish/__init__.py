"""Publishing: atomic snapshots, consumer databases, consumer access and masking."""
