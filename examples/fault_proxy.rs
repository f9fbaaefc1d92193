//! The test kit's fault-injecting TCP proxy as a program, for `benches/soak.sh`:
//! `fault_proxy LISTEN_PORT UPSTREAM_PORT` forwards `127.0.0.1:LISTEN_PORT` to `127.0.0.1:UPSTREAM_PORT`
//! and reads faults from its standard input, one a line: `pass`, `delay MS`, `drop`, `blackhole`,
//! `reset BYTES` (see `tests/common/proxy.rs`). It stops at the end of its input.

#[path = "../tests/common/proxy.rs"]
#[allow(dead_code)]
mod proxy;

use std::io::BufRead;

use proxy::{Fault, Proxy};

fn main() {
    let ports: Vec<u16> = std::env::args().skip(1).filter_map(|arg| arg.parse().ok()).collect();
    let [listen, upstream] = ports[..] else {
        eprintln!("usage: fault_proxy LISTEN_PORT UPSTREAM_PORT");
        std::process::exit(2);
    };
    let proxy = Proxy::start_on(listen, upstream);
    println!("listening on 127.0.0.1:{}", proxy.port());
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match Fault::parse(&line) {
            Some(fault) => {
                proxy.set(fault);
                println!("fault: {fault:?}");
            }
            None if line.trim().is_empty() => {}
            None => eprintln!("unknown fault {line:?}: pass, delay MS, drop, blackhole, reset BYTES"),
        }
    }
}
