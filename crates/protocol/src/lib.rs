//! Tandem's wire types, shared by the server, the Rust SDK and the benchmark.
//!
//! Everything here is plain data with `serde` derives: REST bodies ([`rest`]), WebSocket frames
//! ([`ws`]), room names ([`room`]: the only code that knows their prefixes) and the
//! machine-readable error codes ([`ErrorCode`]) every error response and `error` frame carries.
//! No I/O happens in this crate, so a client can depend on it without pulling in a runtime.

pub mod error;
pub mod ops;
pub mod rest;
pub mod room;
pub mod ws;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
