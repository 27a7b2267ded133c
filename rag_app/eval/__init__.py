"""Evaluation on public question sets: `rag-app eval` (command, runner, formats, metrics) and
`make eval` (suite). Benchmarks and tuning tools are in benchmarks/ at the repository root."""
