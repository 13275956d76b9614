"""Schemathesis's `st` CLI with `ast.parse` serialised across its worker threads.

CPython 3.11 (3.11.7 here) keeps the AST converter's recursion depth in state the threads share, so two
threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch" (CPython
gh-106905). Hypothesis parses a lambda's source to describe each filtered strategy, and schemathesis's
workers are threads: with `--workers 4` a CI run failed on that error, on both databases. A lock around
`ast.parse` removes the race and keeps the workers; nothing else in the run changes.
"""

import ast
import sys
import threading
from importlib.metadata import entry_points

_lock = threading.Lock()
_parse = ast.parse


def _serialised_parse(*args, **kwargs):  # type: ignore[no-untyped-def]
    with _lock:
        return _parse(*args, **kwargs)


if __name__ == "__main__":
    ast.parse = _serialised_parse  # type: ignore[assignment]
    main = entry_points(group="console_scripts")["st"].load()
    sys.argv[0] = "st"
    sys.exit(main())
