"""KARR from the user's side: result documents on disk, and queries over the KARR read model."""
