//! Running out of file descriptors pauses accepting instead of ending the server.
//!
//! This test exhausts the process's descriptors, so it lives alone in its own test
//! binary (its own process).

use std::fs::File;

use easynet::{HandlerError, JsonLines, StreamClient, StreamRequestHandler, handler, recv};
use easynet_tests::{eventually, logs, serve, within};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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

#[tokio::test]
async fn running_out_of_descriptors_pauses_accepting() {
    let (logs, _guard) = logs::capture();
    let running = serve(JsonLines::new(), Echo).await;

    // Take every free descriptor but one, which the client's socket takes: the server's
    // accept() then fails with EMFILE while the connection waits in the backlog.
    let mut hoard = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(file) => hoard.push(file),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("unexpected error while taking descriptors: {e}"),
        }
        assert!(hoard.len() < 1_000_000, "no descriptor limit");
    }
    drop(hoard.pop());
    let stream = within(tokio::net::TcpStream::connect(running.addr))
        .await
        .expect("connect with the last descriptor");

    // The server keeps retrying, pausing between attempts, and logs why.
    eventually("the accept failure logged", || {
        logs.has_line_with(&["WARN", "accept failed", "pausing"])
    })
    .await;
    assert!(running.server.is_serving());

    // Descriptors come back: the waiting connection is accepted and served.
    drop(hoard);
    let (read, mut write) = stream.into_split();
    write.write_all(b"{\"after\":\"emfile\"}\n").await.unwrap();
    let mut line = String::new();
    within(BufReader::new(read).read_line(&mut line))
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"after": "emfile"})
    );
    running.stop().await;
}
