//! A UDP echo client, the datagram twin of `echo_client`: sends packets to
//! `udp_echo_server` and prints the answers.
//!
//! ```text
//! cargo run --release -p easynet-examples --example udp_echo_client -- --port PORT [--host HOST]
//!     [--format NAME] JSON...
//! cargo run --release -p easynet-examples --example udp_echo_client -- --unix PATH [--format NAME] JSON...
//! ```
//!
//! Each `JSON` argument is parsed as JSON, or, if it does not parse, taken as a JSON
//! string (`hello` sends `"hello"`). Each is sent in turn as one datagram, and the answer
//! is printed as compact JSON on its own line (in `lines`, as received). Each answer times
//! out after `--timeout` seconds (default 10): UDP may lose a datagram, and nobody tells.
//! Any failure is reported on stderr with a non-zero exit status. `--format NAME` is
//! `udp_echo_server`'s.
//!
//! With `--unix PATH`, the client binds its own socket file next to nothing the user
//! names: a fresh path in the system's temporary directory, removed at exit (a Unix
//! datagram server can only answer a socket bound to a path).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use easynet::{BoxError, DatagramEndpoint, DatagramProtocol, DatagramSerializer, UdpClient};
use easynet_examples::formats::{
    EchoPacket, FormatArgs, WithDatagramProtocol, with_datagram_client_protocol,
};
use easynet_examples::{DEFAULT_TIMEOUT, StreamEndpoint};

/// Sends packets to a UDP echo server and prints its answers, one per line.
#[derive(Parser)]
#[command(allow_negative_numbers = true)]
struct Args {
    #[command(flatten)]
    endpoint: StreamEndpoint,
    #[command(flatten)]
    format: FormatArgs,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
    /// The packets to send: JSON documents, or plain words sent as JSON strings.
    #[arg(required = true, value_name = "JSON")]
    packets: Vec<String>,
}

struct Run(Args);

impl WithDatagramProtocol for Run {
    type Output = Result<(), BoxError>;

    async fn run<T, S>(self, protocol: DatagramProtocol<S>) -> Result<(), BoxError>
    where
        T: EchoPacket,
        S: DatagramSerializer<T, T>,
    {
        let Run(args) = self;
        let timeout = Duration::try_from_secs_f64(args.timeout)?;
        let StreamEndpoint { host, port, unix } = args.endpoint;
        // The client's own socket file (Unix only), removed when this ends.
        let mut own_file = None;
        let client: DatagramEndpoint<S> = match (unix, port) {
            #[cfg(unix)]
            (Some(path), _) => {
                let local = std::env::temp_dir()
                    .join(format!("udp_echo_client-{}.sock", std::process::id()));
                own_file = Some(RemoveOnDrop(local.clone()));
                easynet::UnixDatagramClient::connect_unix(&path, &local, protocol)
                    .await
                    .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?
            }
            #[cfg(not(unix))]
            (Some(_), _) => return Err("--unix needs a Unix system".into()),
            (None, Some(port)) => UdpClient::connect((host.as_str(), port), protocol)
                .await
                .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?,
            (None, None) => return Err("--port or --unix is required".into()),
        };
        for arg in &args.packets {
            client
                .send_packet(&T::from_arg(arg))
                .await
                .map_err(|e| format!("cannot send {arg:?}: {e}"))?;
            let answer = client
                .recv_packet_timeout(timeout)
                .await
                .map_err(|e| format!("no answer to {arg:?}: {e}"))?;
            println!("{}", answer.display());
        }
        client.close().await;
        drop(own_file);
        Ok(())
    }
}

/// Removes a file when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match with_datagram_client_protocol(args.format.format, Run(args)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("udp_echo_client: {error}");
            ExitCode::FAILURE
        }
    }
}
