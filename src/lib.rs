//! dedupd finds syndicated and spun copies of news articles and groups every copy under its original.
//!
//! The crate reads top to bottom as the request path:
//!
//! - [`fingerprint`]: pure, synchronous text → features: normalise, tokenise, hash, simhash and
//!   sketch. No I/O and no decisions, so it can be property-tested and benchmarked alone.
//! - [`engine`]: the dedup decision, written once over the [`store::Store`] trait: the match rule,
//!   the per-source boilerplate model, verification of the band tables' candidates, the clusters an
//!   article unites, retention.
//! - [`store`]: the trait with its contracts, and the memory, embedded (redb) and Redis backends.
//! - [`grpc`]: proto ↔ domain conversions, the service, and the one error → `tonic::Status` mapping.
//! - [`server`]: lifecycle: listeners, health, reflection, gRPC-Web, metrics and graceful shutdown.
//! - [`http`] and [`review`]: the HTTP listener (`/metrics`) and the review page for moderators.
//! - [`auth`] and [`tls`]: API keys and roles checked on every call, and TLS (mutual TLS optional);
//!   [`deadline`]: a client's deadline answered as `DEADLINE_EXCEEDED`.
//! - [`cli`]: the `dedupd` command line (server, client commands, `eval` and `bench`); `main.rs` only
//!   calls it.
//!
//! Beside the path: [`domain`] (the types every layer shares, and the rule an assignment follows),
//! [`config`], [`error`], [`jsonl`] (the article file format), [`eval`] (scoring against a labelled
//! set), [`synthetic`] (the text generator of the load generator, benches and tests),
//! [`telemetry`] and [`int_map`] (hash maps for keys that are already hashes).

pub mod auth;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod engine;
pub mod error;
pub mod eval;
pub mod fingerprint;
pub mod grpc;
pub mod http;
pub mod int_map;
pub mod jsonl;
pub mod limits;
pub mod review;
pub mod server;
pub mod store;
pub mod synthetic;
pub mod telemetry;
pub mod tls;

/// The generated protobuf and gRPC code of `proto/dedup/v1/dedup.proto`.
pub mod proto {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("dedup.v1");

    /// The encoded descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("dedup_descriptor");
}
