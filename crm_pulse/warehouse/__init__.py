"""The warehouse files: DuckDB connections, publish, the Spark mirror, the lock, the input fingerprint."""
