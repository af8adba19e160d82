"""bench/ holds benchmarks, not tests: keep pytest out even when it is pointed here (`pytest bench`)."""

collect_ignore_glob = ["*"]
