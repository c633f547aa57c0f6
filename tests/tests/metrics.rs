//! The `metrics` feature, through the `metrics_server` example: its Prometheus
//! `/metrics`, read over HTTP, counts exactly the traffic this test sent, over TCP and
//! over UDP (`--udp-port`), drops included.

use std::net::SocketAddr;

use easynet_tests::{RawPeer, ServerProcess, example_binary, within};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The body of `GET /metrics`.
async fn scrape(addr: SocketAddr) -> String {
    let mut stream = within(TcpStream::connect(addr))
        .await
        .expect("connect to /metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within(stream.read_to_string(&mut response)).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample `name` whose labels include every one of `labels`
/// (`key="value"`); 0 if there is none.
fn value(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|l| rest.contains(l))).then_some(value)
        })
        .map(|v| v.parse::<f64>().expect("a number"))
        .sum()
}

/// The address the server printed after `prefix` (waiting for the line).
async fn printed_addr(server: &ServerProcess, prefix: &str) -> SocketAddr {
    within(async {
        loop {
            if let Some(url) = server.stdout().lines().find_map(|l| l.strip_prefix(prefix)) {
                return url
                    .trim_end_matches("/metrics")
                    .parse()
                    .expect("an address");
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn metrics_count_the_traffic_sent() {
    let mut command = tokio::process::Command::new(example_binary("metrics_server"));
    command.args(["--port", "0", "--name", "echo-test"]);
    let server = ServerProcess::spawn(command, "metrics_server").await;
    let metrics_addr = printed_addr(&server, "metrics_server metrics on http://").await;

    let (mut bytes_in, mut bytes_out) = (0, 0);
    let mut first = RawPeer::connect(server.addr).await;
    for n in 0..5 {
        let line = format!("{{\"n\": {n}}}\n");
        first.send(line.as_bytes()).await;
        bytes_in += line.len();
        let answer = first.line().await.expect("an answer");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&answer).unwrap(),
            json!({"n": n})
        );
        bytes_out += answer.len() + 1;
    }
    let mut second = RawPeer::connect(server.addr).await;
    for line in ["[1, 2]\n", "not json\n", "\"x\"\n"] {
        second.send(line.as_bytes()).await;
        bytes_in += line.len();
        let answer = second.line().await.expect("an answer");
        bytes_out += answer.len() + 1;
    }
    let _idle = RawPeer::connect(server.addr).await;
    first.shutdown_write().await;
    first.expect_eof().await;
    second.shutdown_write().await;
    second.expect_eof().await;

    // The closes are counted once the connections' tasks end: scrape until they are.
    let label = "server=\"echo-test\"";
    let metrics = within(async {
        loop {
            let metrics = scrape(metrics_addr).await;
            let closed = value(
                &metrics,
                "easynet_connections_closed_total",
                &[label, "reason=\"peer_closed\""],
            );
            if closed >= 2.0 && value(&metrics, "easynet_connections_active", &[label]) <= 1.0 {
                return metrics;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let count = |name: &str| value(&metrics, name, &[label]);
    assert_eq!(
        count("easynet_connections_accepted_total"),
        3.0,
        "{metrics}"
    );
    assert_eq!(count("easynet_connections_active"), 1.0, "{metrics}");
    assert_eq!(count("easynet_connections_closed_total"), 2.0, "{metrics}");
    assert_eq!(count("easynet_packets_received_total"), 7.0, "{metrics}");
    assert_eq!(count("easynet_parse_errors_total"), 1.0, "{metrics}");
    assert_eq!(count("easynet_packets_sent_total"), 8.0, "{metrics}");
    assert_eq!(
        count("easynet_bytes_received_total"),
        bytes_in as f64,
        "{metrics}"
    );
    assert_eq!(
        count("easynet_bytes_sent_total"),
        bytes_out as f64,
        "{metrics}"
    );
    assert_eq!(count("easynet_timeouts_total"), 0.0, "{metrics}");
    assert_eq!(count("easynet_send_buffer_waits_total"), 0.0, "{metrics}");
    server.interrupt().await;
}

#[tokio::test]
async fn udp_metrics_count_datagrams_and_drops() {
    let mut command = tokio::process::Command::new(example_binary("metrics_server"));
    command.args(["--port", "0", "--name", "dgram", "--udp-port", "0"]);
    // One address at a time: a second peer's datagrams are dropped while the first's
    // address has live state (it keeps it for the idle timeout, a minute).
    command.args(["--udp-max-addresses", "1"]);
    let server = ServerProcess::spawn(command, "metrics_server").await;
    let metrics_addr = printed_addr(&server, "metrics_server metrics on http://").await;
    let udp_addr = printed_addr(&server, "metrics_server udp on ").await;

    let (mut bytes_in, mut bytes_out) = (0, 0);
    let first = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    first.connect(udp_addr).await.unwrap();
    let mut buf = vec![0u8; 65536];
    for datagram in [&b"{\"n\": 1}"[..], b"[1, 2]", b"not json", b"\"x\""] {
        first.send(datagram).await.unwrap();
        bytes_in += datagram.len();
        let n = within(first.recv(&mut buf)).await.expect("an answer");
        bytes_out += n;
    }
    let second = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    second.connect(udp_addr).await.unwrap();
    let dropped = b"{\"dropped\": true}";
    second.send(dropped).await.unwrap();
    bytes_in += dropped.len();

    // The drop is counted once the server has read the datagram: scrape until it is.
    let label = "server=\"dgram-udp\"";
    let metrics = within(async {
        loop {
            let metrics = scrape(metrics_addr).await;
            if value(&metrics, "easynet_datagrams_dropped_total", &[label]) >= 1.0 {
                return metrics;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    let count = |name: &str, labels: &[&str]| {
        let mut all = vec![label];
        all.extend_from_slice(labels);
        value(&metrics, name, &all)
    };
    assert_eq!(
        count("easynet_packets_received_total", &[]),
        3.0,
        "{metrics}"
    );
    assert_eq!(count("easynet_parse_errors_total", &[]), 1.0, "{metrics}");
    assert_eq!(count("easynet_packets_sent_total", &[]), 4.0, "{metrics}");
    assert_eq!(
        count("easynet_bytes_received_total", &[]),
        bytes_in as f64,
        "{metrics}"
    );
    assert_eq!(
        count("easynet_bytes_sent_total", &[]),
        bytes_out as f64,
        "{metrics}"
    );
    assert_eq!(
        count(
            "easynet_datagrams_dropped_total",
            &["reason=\"max_addresses\""]
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        count("easynet_datagrams_dropped_total", &[]),
        1.0,
        "{metrics}"
    );
    // The TCP server's counters are its own.
    assert_eq!(
        value(
            &metrics,
            "easynet_packets_received_total",
            &["server=\"dgram\""]
        ),
        0.0,
        "{metrics}"
    );
    server.interrupt().await;
}
