"""The Devon client: Devon's model manager reached over its HTTP API, its Python package or its CLI."""
