//! Shared helpers for the weir examples.
