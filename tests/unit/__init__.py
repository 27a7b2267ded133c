"""The fast tier: tests that load no model (`make test-fast`)."""
