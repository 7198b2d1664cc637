"""`pcipass doctor`: the facts it reads, its checks (one table) and their verdicts."""
