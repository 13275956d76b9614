"""A fake of Devon's Python package, for KITT's tests: the classes and methods KITT's package backend and
Devon's own CLI use (`Settings`, `ModelStorage`, `SourceRegistry`), written to the shapes of Devon's source
(github.com/kirizan/devon, src/devon/), storing into $FAKE_DEVON_STORAGE. Not Devon: it downloads nothing,
it writes each catalogue model's files with $FAKE_DEVON_PAYLOAD's bytes (a path) or a placeholder."""
