//! Test doubles shared by the unit tests, the fuzz targets and the examples (feature `testing`).

mod connection;
mod mock_host;
mod resources;

pub use connection::FixedConnection;
pub use mock_host::{MockHost, Reply};
pub use resources::FixedResources;
