//! [`Socket`]: the connected std socket a blocking client reads and writes, TCP or Unix,
//! with the per-call timeouts the client sets before each read and write;
//! [`Datagram`]: the same for a connected datagram socket, UDP or Unix.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
#[cfg(unix)]
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::{Duration, Instant};

/// A connected stream socket. Reads and writes take `&self`, so one thread can read while
/// another writes (the kernel keeps the two directions apart, and each has its own
/// timeout: `SO_RCVTIMEO` and `SO_SNDTIMEO`).
pub(super) enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Socket {
    /// Bounds the reads that follow (`None`: no bound). A zero `timeout` is raised to one
    /// microsecond (std refuses a zero timeout, which the kernel would take as "no bound").
    pub(super) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = socket_timeout(timeout);
        match self {
            Socket::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Bounds the writes that follow, as [`set_read_timeout`](Self::set_read_timeout).
    pub(super) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = socket_timeout(timeout);
        match self {
            Socket::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// Shuts down one direction or both. Shutting down the read side wakes a thread
    /// blocked reading (it reads the end of the stream).
    pub(super) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            Socket::Unix(s) => s.shutdown(how),
        }
    }
}

impl Read for &Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match *self {
            Socket::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).read(buf),
        }
    }
}

impl Write for &Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match *self {
            Socket::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether a read or write error means its timeout ran out (`EAGAIN` on Unix,
/// `TimedOut` on Windows).
pub(super) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A timeout as std takes it: a zero `timeout` is raised to one microsecond (std refuses a
/// zero timeout, which the kernel would take as "no bound").
fn socket_timeout(timeout: Option<Duration>) -> Option<Duration> {
    timeout.map(|t| t.max(Duration::from_micros(1)))
}

/// What is left until `deadline`, as a socket timeout (`Some(None)`: no deadline);
/// `None` once it has passed.
pub(super) fn remaining(deadline: Option<Instant>) -> Option<Option<Duration>> {
    match deadline {
        None => Some(None),
        Some(deadline) => deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .map(Some),
    }
}

/// A connected datagram socket. Sends and receives take `&self`, so one thread can
/// receive while another sends.
pub(super) enum Datagram {
    Udp(UdpSocket),
    #[cfg(unix)]
    Unix(UnixDatagram),
}

impl Datagram {
    /// Bounds the receives that follow (`None`: no bound), as
    /// [`Socket::set_read_timeout`].
    pub(super) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = socket_timeout(timeout);
        match self {
            Datagram::Udp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Datagram::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Sends one datagram to the connected remote.
    pub(super) fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        match self {
            Datagram::Udp(s) => s.send(datagram),
            #[cfg(unix)]
            Datagram::Unix(s) => s.send(datagram),
        }
    }

    /// Receives one datagram from the connected remote (a longer one is truncated to
    /// `buf`'s length).
    pub(super) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Datagram::Udp(s) => s.recv(buf),
            #[cfg(unix)]
            Datagram::Unix(s) => s.recv(buf),
        }
    }

    /// Shuts the receive side down, which wakes a thread blocked receiving (on Linux and
    /// the BSDs its receive returns 0 bytes). Std's `UdpSocket` has no `shutdown`: the
    /// socket's own one is called.
    pub(super) fn shutdown_read(&self) -> io::Result<()> {
        match self {
            Datagram::Udp(s) => socket2::SockRef::from(s).shutdown(Shutdown::Read),
            #[cfg(unix)]
            Datagram::Unix(s) => s.shutdown(Shutdown::Read),
        }
    }
}
