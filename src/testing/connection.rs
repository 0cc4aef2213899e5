//! A double of the transport check's connection port ([`crate::transport::Connection`]).

use crate::transport::Connection;
use std::cell::Cell;

/// A downstream connection whose facts the test sets; counts the facts read (each a host call in
/// Envoy).
#[derive(Debug, Default)]
pub struct FixedConnection {
    pub tls: bool,
    /// `source.address` (`ip:port`).
    pub source: Option<String>,
    /// The first URI SAN of the peer certificate.
    pub uri_san: Option<String>,
    /// The name of the listener filter chain the connection was matched to.
    pub filter_chain: Option<String>,
    /// How many facts were read.
    pub reads: Cell<u32>,
}

impl FixedConnection {
    /// A plaintext connection from `127.0.0.2:40000` without a certificate.
    pub fn plaintext() -> Self {
        FixedConnection::from_peer(false, "127.0.0.2:40000", None)
    }

    /// A TLS connection from `127.0.0.2:40000` without a client certificate.
    pub fn tls() -> Self {
        FixedConnection::from_peer(true, "127.0.0.2:40000", None)
    }

    pub fn from_peer(tls: bool, source: &str, uri_san: Option<&str>) -> Self {
        FixedConnection {
            tls,
            source: Some(source.to_string()),
            uri_san: uri_san.map(str::to_string),
            filter_chain: None,
            reads: Cell::new(0),
        }
    }

    fn read(&self) {
        self.reads.set(self.reads.get() + 1);
    }
}

impl Connection for FixedConnection {
    fn is_tls(&self) -> bool {
        self.read();
        self.tls
    }

    fn source_address(&self) -> Option<String> {
        self.read();
        self.source.clone()
    }

    fn peer_uri_san(&self) -> Option<String> {
        self.read();
        self.uri_san.clone()
    }

    fn filter_chain(&self) -> Option<String> {
        self.read();
        self.filter_chain.clone()
    }
}
