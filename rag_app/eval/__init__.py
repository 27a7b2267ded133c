"""Evaluation on public question sets (`rag-app eval`) and benchmarks."""
