//! End-to-end tests: real echo upstreams on free ports, the gateway in front of them, and a
//! hyper client talking to the gateway over TCP.

mod bench;
mod errors;
mod forwarding;
mod helpers;
mod own_routes;
mod streaming;
