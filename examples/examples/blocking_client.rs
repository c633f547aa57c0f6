//! The how-to's client of "Run Server In Background", with the synchronous API: three
//! clients, one after another, each sends `{"message": "Hello world N"}` and prints the
//! answer, from a plain `fn main` (no tokio runtime, no `async`).
//!
//! ```text
//! cargo run -p easynet-examples --example echo_server -- --port 9000 &
//! cargo run -p easynet-examples --example blocking_client -- --port 9000 [--host HOST]
//! cargo run -p easynet-examples --example blocking_client -- --unix PATH
//! ```
//!
//! Against `echo_server` (or `standalone_server`) it prints:
//!
//! ```text
//! From server: {"message":"Hello world 1"}
//! From server: {"message":"Hello world 2"}
//! From server: {"message":"Hello world 3"}
//! ```
//!
//! Connecting and each answer time out after `--timeout` seconds (default 10); a failure
//! is reported on stderr with a non-zero exit status.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use easynet::blocking::TcpClient;
use easynet::{BoxError, JsonLines};
use easynet_examples::{DEFAULT_TIMEOUT, StreamEndpoint};
use serde_json::{Value, json};

/// Sends the how-to's three messages to a JSON echo server, with blocking calls.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    endpoint: StreamEndpoint,
    /// Seconds to wait for the connection and for each answer.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
}

fn client(args: &Args, timeout: Duration, message: &str) -> Result<(), BoxError> {
    let protocol = JsonLines::<Value>::new();
    let client = match (&args.endpoint.unix, args.endpoint.port) {
        (Some(path), _) => easynet::blocking::UnixClient::connect_unix(path, protocol)
            .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?,
        (None, Some(port)) => {
            let host = &args.endpoint.host;
            TcpClient::connect_timeout((host.as_str(), port), protocol, timeout)
                .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?
        }
        (None, None) => return Err("--port or --unix is required".into()),
    };
    client.send_packet(&json!({"message": message}))?;
    let response = client.recv_packet_timeout(timeout)?;
    println!("From server: {response}");
    client.close();
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = || -> Result<(), BoxError> {
        let timeout = Duration::try_from_secs_f64(args.timeout)?;
        client(&args, timeout, "Hello world 1")?;
        client(&args, timeout, "Hello world 2")?;
        client(&args, timeout, "Hello world 3")?;
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blocking_client: {error}");
            ExitCode::FAILURE
        }
    }
}
