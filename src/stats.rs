//! Metric names. (STUB)
