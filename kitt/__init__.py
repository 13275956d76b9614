"""KITT: an event-sourced test bench for LLM inference engines."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kitt")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
