//! Helpers for interop tests: start and stop the reference binaries.
