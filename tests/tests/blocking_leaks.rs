//! A standalone server (TCP, then UDP) started and stopped from other threads 20 times
//! leaves no thread and no file descriptor behind. A test binary of its own, with one test: it counts the
//! whole process's threads (`/proc/self/task`) and fds (`/proc/self/fd`).

use std::time::Duration;

use easynet::blocking::{
    ServerThread, StandaloneTcpServer, StandaloneUdpServer, TcpClient, UdpClient,
};
use easynet::{
    DatagramClient, DatagramProtocol, DatagramRequestHandler, HandlerError, JsonLines,
    JsonSerializer, StreamClient, StreamRequestHandler, TcpServer, UdpServer, handler, recv,
};
use serde_json::{Value, json};

struct Echo;

impl StreamRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &StreamClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

impl DatagramRequestHandler for Echo {
    type Request = Value;
    type Response = Value;

    #[handler]
    async fn handle(&self, client: &DatagramClient<Value>) -> Result<(), HandlerError> {
        let request = recv!()?;
        client.send_packet(&request).await?;
        Ok(())
    }
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).expect("read /proc").count()
}

/// One round: a thread starts the server, another talks to it, a third stops it.
fn round(i: usize) {
    let starter = std::thread::spawn(|| {
        let bind = TcpServer::builder(JsonLines::new(), Echo)
            .host("127.0.0.1")
            .log_client_connection(false)
            .bind();
        ServerThread::start(StandaloneTcpServer::new(2, bind).expect("bind")).expect("serves")
    });
    let running = starter.join().unwrap();
    let addr = running.server().local_addrs()[0];
    std::thread::spawn(move || {
        let client = TcpClient::connect(addr, JsonLines::<Value>::new()).unwrap();
        client.send_packet(&json!({"round": i})).unwrap();
        assert_eq!(
            client.recv_packet_timeout(Duration::from_secs(10)).unwrap(),
            json!({"round": i})
        );
        client.close();
    })
    .join()
    .unwrap();
    std::thread::spawn(move || running.stop().unwrap())
        .join()
        .unwrap();
    udp_round(i);
}

/// The same with a standalone UDP server and the blocking UDP client.
fn udp_round(i: usize) {
    let json = || DatagramProtocol::new(JsonSerializer::<Value>::new());
    let starter = std::thread::spawn(move || {
        let bind = UdpServer::builder(json(), Echo).host("127.0.0.1").bind();
        ServerThread::start(StandaloneUdpServer::new(2, bind).expect("bind")).expect("serves")
    });
    let running = starter.join().unwrap();
    let addr = running.server().local_addrs()[0];
    std::thread::spawn(move || {
        let client = UdpClient::connect(addr, json()).unwrap();
        client.send_packet(&json!({"udp round": i})).unwrap();
        assert_eq!(
            client.recv_packet_timeout(Duration::from_secs(10)).unwrap(),
            json!({"udp round": i})
        );
        client.close();
    })
    .join()
    .unwrap();
    std::thread::spawn(move || running.stop().unwrap())
        .join()
        .unwrap();
}

#[test]
fn twenty_starts_and_stops_leave_no_thread_or_fd_behind() {
    // A first round loads what stays loaded once (the resolver, rustls' provider...).
    round(0);
    let threads = count("/proc/self/task");
    let fds = count("/proc/self/fd");
    for i in 1..=20 {
        round(i);
    }
    // Each stop has joined the server's threads (its own and its runtime's) before it
    // returned: no wait here.
    assert_eq!(count("/proc/self/task"), threads, "threads left behind");
    assert_eq!(count("/proc/self/fd"), fds, "file descriptors left behind");
}
