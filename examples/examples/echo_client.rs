//! A JSON-lines echo client, the client side of the how-to's "An Echo Client/Server Over
//! TCP": sends packets to `echo_server` and prints the answers.
//!
//! ```text
//! cargo run --release -p easynet-examples --example echo_client -- --port PORT [--host HOST] JSON...
//! ```
//!
//! Each `JSON` argument is parsed as JSON, or, if it does not parse, taken as a JSON
//! string (`hello` sends `"hello"`). Each is sent in turn, and the answer is printed as
//! compact JSON on its own line. Connecting and each answer time out after `--timeout`
//! seconds (default 10); any failure is reported on stderr with a non-zero exit status.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use easynet::{BoxError, JsonLines, TcpClient};
use easynet_examples::{DEFAULT_TIMEOUT, Endpoint, json_arg};
use serde_json::Value;

/// Sends JSON packets to an echo server and prints its answers, one per line.
#[derive(Parser)]
#[command(allow_negative_numbers = true)]
struct Args {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Seconds to wait for the connection and for each answer.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
    /// The packets to send: JSON documents, or plain words sent as JSON strings.
    #[arg(required = true, value_name = "JSON")]
    packets: Vec<String>,
}

async fn run(args: Args) -> Result<(), BoxError> {
    let Endpoint { host, port } = args.endpoint;
    let timeout = Duration::try_from_secs_f64(args.timeout)?;

    let protocol = JsonLines::<Value>::new();
    let client = TcpClient::connect_timeout((host.as_str(), port), protocol, timeout)
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    for arg in &args.packets {
        client
            .send_packet(&json_arg(arg))
            .await
            .map_err(|e| format!("cannot send {arg:?}: {e}"))?;
        let answer = client
            .recv_packet_timeout(timeout)
            .await
            .map_err(|e| format!("no answer to {arg:?}: {e}"))?;
        println!("{}", serde_json::to_string(&answer)?);
    }
    client.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo_client: {error}");
            ExitCode::FAILURE
        }
    }
}
