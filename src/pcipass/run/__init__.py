"""The executor: journal, lock, step execution with verify and undo."""
