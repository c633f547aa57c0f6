//! The server tools' options for running behind a load balancer: `--proxy-protocol
//! TRUSTED` (take PROXY protocol headers from these sources), `--reuse-port` (share
//! the port with other processes) and `--drain-grace SECS` (how long SIGTERM's drain
//! takes).

use std::time::Duration;

use easynet::{
    BoxError, ServerBuilder, StreamProtocol, StreamRequestHandler, TcpServerBuilder, Transport,
    TrustedSources, UnixServerBuilder,
};

use crate::parse_seconds;

/// `--proxy-protocol TRUSTED [--proxy-header-timeout SECS] [--reuse-port] [--drain-grace SECS]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BalancerArgs {
    /// Take PROXY protocol (v1 or v2) headers from these sources: comma-separated IP
    /// addresses or CIDR ranges (`127.0.0.1,10.0.0.0/8`). Connections from them must
    /// send one; others are plain. With --unix, only `all` (every connection).
    #[arg(long, value_name = "TRUSTED")]
    pub proxy_protocol: Option<String>,
    /// How long a trusted source may take to send its header (default 5).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, requires = "proxy_protocol")]
    pub proxy_header_timeout: Option<Duration>,
    /// Set SO_REUSEPORT, so that several processes can listen on the same port.
    #[arg(long)]
    pub reuse_port: bool,
    /// On SIGTERM, close idle connections over this many seconds before shutting down
    /// (a second signal shuts down at once).
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub drain_grace: Duration,
}

impl BalancerArgs {
    /// The trusted sources of `--proxy-protocol`: the list, or every connection for
    /// `all`.
    ///
    /// # Errors
    /// The list does not parse.
    pub fn trusted(&self) -> Result<Option<TrustedSources>, BoxError> {
        match self.proxy_protocol.as_deref() {
            None => Ok(None),
            Some("all") => Ok(Some(TrustedSources::all())),
            Some(list) => Ok(Some(
                list.parse().map_err(|e| format!("--proxy-protocol: {e}"))?,
            )),
        }
    }

    fn apply<H, P, T>(
        &self,
        mut builder: ServerBuilder<H, P, T>,
        trusted: Option<TrustedSources>,
    ) -> ServerBuilder<H, P, T>
    where
        H: StreamRequestHandler,
        P: StreamProtocol<H::Response, H::Request>,
        T: Transport,
    {
        if let Some(trusted) = trusted {
            builder = builder.proxy_protocol(trusted);
        }
        if let Some(timeout) = self.proxy_header_timeout {
            builder = builder.proxy_header_timeout(timeout);
        }
        builder
    }

    /// Sets the options that were given on a TCP server's builder.
    ///
    /// # Errors
    /// The `--proxy-protocol` list does not parse.
    pub fn apply_tcp<H, P>(
        &self,
        builder: TcpServerBuilder<H, P>,
    ) -> Result<TcpServerBuilder<H, P>, BoxError>
    where
        H: StreamRequestHandler,
        P: StreamProtocol<H::Response, H::Request>,
    {
        let trusted = self.trusted()?;
        Ok(self.apply(builder, trusted).reuse_port(self.reuse_port))
    }

    /// Sets the options that were given on a Unix server's builder.
    ///
    /// # Errors
    /// `--reuse-port`, or a `--proxy-protocol` other than `all` (a Unix peer has no IP
    /// address to trust).
    pub fn apply_unix<H, P>(
        &self,
        builder: UnixServerBuilder<H, P>,
    ) -> Result<UnixServerBuilder<H, P>, BoxError>
    where
        H: StreamRequestHandler,
        P: StreamProtocol<H::Response, H::Request>,
    {
        if self.reuse_port {
            return Err("--reuse-port is for TCP: it does not go with --unix".into());
        }
        let trusted = self.trusted()?;
        if trusted
            .as_ref()
            .is_some_and(|t| *t != TrustedSources::all())
        {
            return Err(
                "with --unix, --proxy-protocol takes `all` (a Unix peer has no IP address)".into(),
            );
        }
        Ok(self.apply(builder, trusted))
    }
}
