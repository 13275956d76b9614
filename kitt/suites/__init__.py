"""Built-in benchmark suites (YAML)."""
