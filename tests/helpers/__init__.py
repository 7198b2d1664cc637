"""Shared test machinery: hand-built host models (`model_hosts`), the CLI runner, fakes."""
