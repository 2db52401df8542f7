"""Publishing: atomic snapshots, consumer databases, consumer access and masking.

The values here are read by the CLI's options; this module imports nothing, so `--help`
stays fast."""

DEFAULT_KEEP = 3  # snapshots kept for rollback
