"""Self-serve: scaffolding domains and products, adopting dbt projects, contracts, doctor."""
