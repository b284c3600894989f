"""crm-pulse's own code that is not Dagster glue, dbt or a data contract (docs/architecture.md)."""
