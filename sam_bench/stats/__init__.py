"""The statistics behind every interval and verdict, pure functions; its modules: README.md."""
