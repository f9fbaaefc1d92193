//! dedupd finds syndicated and spun copies of news articles and groups every copy under its original.
//!
//! The crate reads top to bottom as the request path:
//!
//! - [`fingerprint`]: pure, synchronous text processing: normalise, tokenise, hash, simhash and sketch.
//!   No I/O, so it can be property-tested and benchmarked alone.
//! - [`engine`]: the dedup decision, written once over the [`store::Store`] trait: candidates from the
//!   band tables, verification against stored sketches, cluster assignment and the canonical.
//! - [`store`]: the trait with its contracts, and the memory, embedded (redb) and Redis backends.
//! - [`grpc`]: proto ↔ domain conversions, the service, and the one error → `tonic::Status` mapping.
//! - [`server`]: lifecycle: listeners, health, reflection, metrics and graceful shutdown.
//! - [`cli`]: the `dedupd` command line (server, client commands and `eval`); `main.rs` only calls it.

pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod eval;
pub mod fingerprint;
pub mod grpc;
pub mod int_map;
pub mod jsonl;
pub mod server;
pub mod store;
pub mod synthetic;
pub mod telemetry;

/// The generated protobuf and gRPC code of `proto/dedup/v1/dedup.proto`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("dedup.v1");

    /// The encoded descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("dedup_descriptor");
}
