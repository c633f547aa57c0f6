//! Real system services the balancer and cluster tests run: Debian's `haproxy` and
//! `redis-server` (`tests/run.sh` installs them). Each test starts its own process, with
//! its own generated config and loopback port, and the process is killed when its
//! handle drops. A missing binary fails the test: these tests never skip.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::within;

/// A free loopback port now (bound, then released: the caller binds it again at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A fresh directory under the system's temp dir, for one test's configs.
pub fn temp_dir(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "easynet-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// Fails the test with how to install `binary` unless it is on the `PATH`.
fn require(binary: &str) {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{binary} is not installed: run `bash tests/run.sh` (it installs Debian's haproxy \
         and redis-server) or `apt-get install -y haproxy redis-server`"
    );
}

/// Waits, at most [`STEP`](crate::STEP), until something accepts connections on `addr`;
/// returns the local address of the connection that was accepted (a proxy forwards it
/// like any other).
pub async fn wait_listening(addr: SocketAddr, child: &mut Child, what: &str) -> SocketAddr {
    within(async {
        loop {
            if let Ok(probe) = TcpStream::connect(addr).await {
                return probe.local_addr().expect("the probe's address");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{what} exited before listening on {addr}: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A `redis-server` on a loopback port, without persistence; killed when dropped.
pub struct Redis {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Redis {
    /// Starts one and waits until it accepts connections.
    pub async fn start() -> Redis {
        require("redis-server");
        let port = free_port();
        let dir = temp_dir("redis");
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let _ = wait_listening(addr, &mut child, "redis-server").await;
        Redis { child, addr }
    }

    /// Its URL, as the `redis` crate takes it.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills it and waits for it to exit (dropping only kills it).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// How [`Haproxy`] talks to its backend servers.
#[derive(Debug, Clone, Copy, Default)]
pub struct HaproxyOptions {
    /// Send a PROXY protocol v2 header first on every connection to a server
    /// (`send-proxy-v2`). The health checks then send one too, with the `LOCAL` command
    /// (HAProxy's default for checks of a server with `send-proxy-v2`).
    pub send_proxy_v2: bool,
}

/// An `haproxy` in `mode tcp` with one frontend on a loopback port and a roundrobin
/// backend of `servers`, health-checked every 100 ms; killed when dropped.
pub struct Haproxy {
    child: Child,
    /// Where its frontend listens.
    pub addr: SocketAddr,
    /// Its config file.
    pub config: PathBuf,
    /// The local address of the connection that found its frontend listening: HAProxy
    /// may forward it to a server, which then sees a (proxied) client at this address.
    pub probe: SocketAddr,
}

impl Haproxy {
    /// Starts one in front of `servers` and waits until its frontend accepts
    /// connections. Failed connections are retried and redispatched to another server
    /// (`retries 3`, `option redispatch`): a connection to a backend that just died goes
    /// to a live one.
    pub async fn start(servers: &[SocketAddr]) -> Haproxy {
        Haproxy::start_with(servers, HaproxyOptions::default()).await
    }

    /// [`Haproxy::start`] with `options`.
    pub async fn start_with(servers: &[SocketAddr], options: HaproxyOptions) -> Haproxy {
        require("haproxy");
        let port = free_port();
        let dir = temp_dir("haproxy");
        let mut config = String::from(
            "global\n    maxconn 1000\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    \
             timeout server 30s\n    retries 3\n    option redispatch\n",
        );
        config.push_str(&format!(
            "frontend front\n    bind 127.0.0.1:{port}\n    default_backend back\n\
             backend back\n    balance roundrobin\n"
        ));
        let send_proxy = if options.send_proxy_v2 {
            " send-proxy-v2"
        } else {
            ""
        };
        for (i, server) in servers.iter().enumerate() {
            config.push_str(&format!(
                "    server s{i} {server} check inter 100ms fall 1 rise 1{send_proxy}\n"
            ));
        }
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let mut child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start haproxy");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let probe = wait_listening(addr, &mut child, "haproxy").await;
        Haproxy {
            child,
            addr,
            config: path,
            probe,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills it and waits for it to exit (dropping only kills it).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
