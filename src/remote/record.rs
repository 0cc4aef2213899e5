//! The shared-data record of a remote document's last good body (`edgeguard.<kind>.<name>.<id>.record`):
//! written only after a successful fetch, read by every VM of the proxy.

/// A fetched body and its fetch time, as stored in shared data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub fetched_at_ms: u64,
    pub body: Vec<u8>,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{}\n", self.fetched_at_ms).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let nl = bytes.iter().position(|&b| b == b'\n')?;
        let head = std::str::from_utf8(bytes.get(..nl)?).ok()?;
        Some(Record {
            fetched_at_ms: head.parse().ok()?,
            body: bytes.get(nl + 1..)?.to_vec(),
        })
    }
}
