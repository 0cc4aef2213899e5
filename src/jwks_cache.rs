//! JWKS lifecycle per provider (fetch, refresh, stale window, unknown-kid refetch). (STUB)
