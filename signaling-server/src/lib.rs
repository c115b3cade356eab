//! Tutti's room server: lessons with invite codes and a waiting room, WebRTC signaling between
//! participants, the live question queue and chat. `hub` is the logic without sockets; `serve`
//! puts it behind HTTP and WebSocket.

pub mod db;
pub mod hub;
pub mod metrics;
pub mod rate;
pub mod secrets;
pub mod serve;
pub mod tls;
pub mod turn;
pub mod web;

mod hub_thread;

pub use hub::HubConfig;
pub use serve::{RunningServer, ServeError, ServerConfig, start};
