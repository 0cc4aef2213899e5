//! Verified-token cache. (STUB)
