"""Requests → plans: pure functions over the model (assign, sriov, guards)."""
