//! Tandem: a self-hosted real-time collaboration server.
//!
//! The path of every change is one-directional (see DESIGN.md):
//! request → [`auth`] → [`domain`] rule → [`store`] → [`hub`] → [`ws`] socket.
//! [`server::Server`] wires the pieces together; [`http::router`] is the REST surface.

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod http;
pub mod hub;
pub mod serve;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod ws;

pub use config::ServeConfig;
pub use server::{Server, StartError};
