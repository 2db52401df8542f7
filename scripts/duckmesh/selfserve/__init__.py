"""Self-serve: scaffolding domains and products, adopting dbt projects, contracts, doctor.

The values here are read by the CLI's options; this module imports nothing."""

# the kinds of domain, with the line `new-domain` prints for each
KINDS = {
    "source": "source-aligned: publishes the data of its own operational systems",
    "aggregate": "aggregate: combines its own data with other domains' products",
    "consumer": "consumer-aligned: reads other domains' products for one use",
}

# P08: how long consumers get to move off a deprecated version.
DEPRECATION_NOTICE_DAYS = 90
