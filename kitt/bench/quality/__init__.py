"""Quality benchmarks through lm-eval: offline datasets, task files, results (in progress: issue 4)."""
