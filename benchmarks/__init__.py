"""Developer tools, not installed with rag_app: speed and memory benchmarks (`make bench-…`),
the fusion and gate tuning replays and the check replays. Run from the repository root, e.g.
``.venv/bin/python -m benchmarks.bench_scale``."""
