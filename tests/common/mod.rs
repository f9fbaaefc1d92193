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
