//! Test doubles shared by the unit tests, the fuzz targets and the examples (feature `testing`).

mod mock_host;

pub use mock_host::{MockHost, Reply};
