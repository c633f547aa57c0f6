//! A JSON-lines echo client, the client side of the how-to's "An Echo Client/Server Over
//! TCP": sends packets to `echo_server` and prints the answers.
//!
//! ```text
//! cargo run --release -p easynet-examples --example echo_client -- --port PORT [--host HOST]
//!     [--format NAME] [--tls [--ca FILE] [--insecure]] JSON...
//! cargo run --release -p easynet-examples --example echo_client -- --unix PATH [--format NAME] JSON...
//! ```
//!
//! Each `JSON` argument is parsed as JSON, or, if it does not parse, taken as a JSON
//! string (`hello` sends `"hello"`). Each is sent in turn, and the answer is printed as
//! compact JSON on its own line. Connecting and each answer time out after `--timeout`
//! seconds (default 10); any failure is reported on stderr with a non-zero exit status.
//!
//! `--format NAME` picks the wire format, as `echo_server`'s (default `json`; see
//! `easynet_examples::formats`): in `lines` each argument is sent as a line of text and
//! each answer printed as received; in the other formats arguments are sent as JSON-like
//! values and answers printed as compact JSON.
//!
//! `--tls` connects with TLS, checking the server's certificate against the built-in roots
//! (or the CA of `--ca FILE`) and the `--host` name; `--insecure` accepts any certificate
//! (dangerous: for tests only).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use easynet::{BoxError, StreamProtocol};
use easynet_examples::formats::{EchoPacket, FormatArgs, WithProtocol, with_client_protocol};
use easynet_examples::{DEFAULT_TIMEOUT, StreamEndpoint};

/// Sends JSON packets to an echo server and prints its answers, one per line.
#[derive(Parser)]
#[command(allow_negative_numbers = true)]
struct Args {
    #[command(flatten)]
    endpoint: StreamEndpoint,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    tls: easynet_examples::ClientTlsArgs,
    /// Seconds to wait for the connection and for each answer.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT.as_secs_f64())]
    timeout: f64,
    /// The packets to send: JSON documents, or plain words sent as JSON strings.
    #[arg(required = true, value_name = "JSON")]
    packets: Vec<String>,
}

/// Talks to the server with the protocol of `--format`.
struct Run(Args);

impl WithProtocol for Run {
    type Output = Result<(), BoxError>;

    async fn run<T, P>(self, protocol: P) -> Result<(), BoxError>
    where
        T: EchoPacket,
        P: StreamProtocol<T, T>,
    {
        let Run(args) = self;
        talk::<T, P>(args, protocol).await
    }
}

async fn talk<T, P>(args: Args, protocol: P) -> Result<(), BoxError>
where
    T: EchoPacket,
    P: StreamProtocol<T, T>,
{
    let StreamEndpoint { host, port, unix } = args.endpoint;
    let timeout = Duration::try_from_secs_f64(args.timeout)?;

    let client = match (unix, port) {
        (Some(path), _) => {
            if args.tls.tls {
                return Err("--tls connects over TCP: it does not go with --unix".into());
            }
            tokio::time::timeout(timeout, easynet::UnixClient::connect_unix(&path, protocol))
                .await
                .map_err(|_| format!("cannot connect to {}: timed out", path.display()))?
                .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?
        }
        (None, Some(port)) => args
            .tls
            .connect(&host, port, protocol, timeout)
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
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match with_client_protocol(args.format.format, Run(args)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo_client: {error}");
            ExitCode::FAILURE
        }
    }
}
