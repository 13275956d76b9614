"""The `kitt` command line (click)."""
