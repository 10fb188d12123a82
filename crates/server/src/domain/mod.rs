//! The rules of Tandem's collaboration domains, free of HTTP and WebSocket types.
//!
//! Each function takes the caller's identity and the [`Store`](crate::store::Store), checks the
//! domain's rules, writes through the store and returns records or a [`DomainError`]. Transports
//! (REST handlers, WebSocket frame handlers) translate the error once, at their edge.

pub mod canvases;
pub mod drafts;
mod error;
pub mod events;
pub mod ids;
pub mod library;
pub mod messages;
pub mod presence;
pub mod rooms;
pub mod threads;
pub mod users;

pub use error::DomainError;
