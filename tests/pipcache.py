"""The test user's pip cache, lent to the "fresh hosts" the install tests set up (a new HOME each, so
nothing else of the real one leaks in): what they test is the install, not downloading the same wheels
again. pip's cache is safe for concurrent use by several workers."""

import functools
import subprocess
import sys


@functools.cache
def pip_cache_env() -> dict[str, str]:
    """PIP_CACHE_DIR for a host's environment (nothing when pip's cache is off)."""
    found = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return {"PIP_CACHE_DIR": found.stdout.strip()} if found.returncode == 0 and found.stdout.strip() else {}
