//! A fault-injecting TCP proxy: put it between dedupd and a real `redis-server` and switch the
//! network between them from the test.
//!
//! [`Proxy::start`] listens on a free port of 127.0.0.1 and forwards every connection to its
//! upstream. [`Proxy::set`] switches the [`Fault`] for every connection, open or new:
//!
//! - [`Fault::Pass`]: forward as is;
//! - [`Fault::Delay`]: forward each chunk after a pause (both directions, in order);
//! - [`Fault::Drop`]: reset every open connection and every new one as soon as it is accepted;
//! - [`Fault::Blackhole`]: accept, forward nothing either way (bytes wait in the kernel's buffers, as
//!   on a partitioned network), then resume once the fault is lifted;
//! - [`Fault::ResetAfter`]: forward this many more bytes on each connection (both directions
//!   counted), then reset it: a command or a script's answer cut off mid-way.
//!
//! Every close is a reset (`SO_LINGER` 0), as a dead link or a crashed peer looks. The proxy runs on
//! its own thread and runtime, so it serves whatever the test's runtime is doing, and it stops when
//! dropped. `examples/fault_proxy.rs` runs it as a program, for the soak script.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to the traffic it forwards (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward as is.
    Pass,
    /// Pause before forwarding each chunk.
    Delay(Duration),
    /// Reset every connection, open or new.
    Drop,
    /// Forward nothing until the fault changes.
    Blackhole,
    /// Forward this many more bytes per connection, then reset it.
    ResetAfter(usize),
}

impl Fault {
    /// Reads the proxy program's commands: `pass`, `delay MS`, `drop`, `blackhole`, `reset BYTES`.
    pub fn parse(line: &str) -> Option<Fault> {
        let mut words = line.split_whitespace();
        let fault = match (words.next()?, words.next()) {
            ("pass", None) => Fault::Pass,
            ("delay", Some(ms)) => Fault::Delay(Duration::from_millis(ms.parse().ok()?)),
            ("drop", None) => Fault::Drop,
            ("blackhole", None) => Fault::Blackhole,
            ("reset", Some(bytes)) => Fault::ResetAfter(bytes.parse().ok()?),
            _ => return None,
        };
        words.next().is_none().then_some(fault)
    }
}

/// A running proxy; stops (and resets its connections) when dropped.
pub struct Proxy {
    port: u16,
    faults: watch::Sender<Fault>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    /// Starts a proxy on a free port of 127.0.0.1 forwarding to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Proxy {
        Self::start_on(0, upstream)
    }

    /// Like [`Proxy::start`], on `port` (0: any free port).
    pub fn start_on(port: u16, upstream: u16) -> Proxy {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy's port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let port = listener.local_addr().expect("the proxy's address").port();
        let upstream = SocketAddr::from(([127, 0, 0, 1], upstream));
        let (faults, watched) = watch::channel(Fault::Pass);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let thread = std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("a tokio listener");
                    tokio::select! {
                        () = accept(listener, upstream, watched, counter) => {}
                        _ = stopped => {}
                    }
                });
                // dropping the runtime drops every connection task and resets its sockets
            })
            .expect("start the proxy thread");
        Proxy { port, faults, stop: Some(stop), thread: Some(thread), accepted }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`, the proxy as a store URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Switches the fault for every connection, open or new.
    pub fn set(&self, fault: Fault) {
        self.faults.send_replace(fault);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    faults: watch::Receiver<Fault>,
    accepted: Arc<AtomicUsize>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        accepted.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_zero_linger();
        if *faults.borrow() == Fault::Drop {
            drop(client);
            continue;
        }
        let faults = faults.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else { return };
            let _ = server.set_zero_linger();
            let _ = server.set_nodelay(true);
            let _ = client.set_nodelay(true);
            forward(client, server, faults).await;
        });
    }
}

/// Forwards one connection both ways under the current fault until either side closes or a fault
/// resets it; returning drops (resets) both sockets.
async fn forward(client: TcpStream, server: TcpStream, mut faults: watch::Receiver<Fault>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    // bytes left before a reset: set when this connection first sees `ResetAfter`
    let mut budget: Option<usize> = None;
    loop {
        let fault = *faults.borrow_and_update();
        match fault {
            Fault::Drop => return,
            Fault::Blackhole => {
                if faults.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Fault::ResetAfter(bytes) => {
                budget.get_or_insert(bytes);
            }
            Fault::Pass | Fault::Delay(_) => budget = None,
        }
        // one chunk from either side, or a change of fault
        let (chunk, to_server) = tokio::select! {
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            read = client_read.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => (&up[..n], true),
            },
            read = server_read.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => (&down[..n], false),
            },
        };
        if let Fault::Delay(pause) = fault {
            tokio::time::sleep(pause).await;
        }
        let (chunk, cut) = match budget.as_mut() {
            Some(left) if chunk.len() >= *left => (&chunk[..*left], true),
            Some(left) => {
                *left -= chunk.len();
                (chunk, false)
            }
            None => (chunk, false),
        };
        let written = if to_server { server_write.write_all(chunk).await } else { client_write.write_all(chunk).await };
        if written.is_err() || cut {
            return;
        }
    }
}
