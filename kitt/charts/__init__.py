"""Charts of results (inline SVG) and the self-contained HTML report: the web UI and `kitt report`."""
