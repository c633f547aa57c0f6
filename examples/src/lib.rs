//! Shared helpers for the easynet examples.
