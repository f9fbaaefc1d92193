//! The test kit of the integration tests (and of the Redis memory benchmark): throwaway Redis
//! servers and clusters, one of each shared per test binary ([`servers`]), a store wrapper that
//! injects faults into any store ([`store`]), and a TCP proxy that injects network faults between
//! dedupd and Redis ([`proxy`]). Texts come from `dedupd::synthetic`, the one generator.

// each test binary compiles the kit and uses part of it
#![allow(dead_code, unused_imports)]

pub mod proxy;
pub mod servers;
pub mod store;

pub use proxy::{Fault, Proxy};
pub use servers::{RedisCluster, RedisServer, free_port, namespace, new_store, shared_cluster, shared_redis};
pub use store::{Call, Hook, Hooked, stored_article};

/// Published times of the gRPC tests' articles count from here (2025-01-01T00:00:00Z): in the past, so
/// no time is clamped.
pub const BASE_SECONDS: i64 = 1_735_689_600;

/// A gRPC article published `minutes` after [`BASE_SECONDS`], on a source of its own.
pub fn article(id: &str, body: &str, minutes: i64) -> dedupd::proto::Article {
    dedupd::proto::Article {
        id: id.into(),
        url: format!("https://{id}.example/story"),
        source: format!("{id}.example"),
        title: format!("Title of {id}"),
        body: body.into(),
        published_at: Some(prost_types::Timestamp { seconds: BASE_SECONDS + minutes * 60, nanos: 0 }),
    }
}
