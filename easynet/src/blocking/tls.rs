//! [`TlsSession`]: a blocking client's TLS state, rustls' synchronous
//! [`ClientConnection`] shared by its send and receive sides.
//!
//! rustls keeps one state for both directions, so it cannot be split as a socket is.
//! The connection sits behind its own mutex, held only to hand rustls bytes and take
//! bytes from it, never while the socket is read or written: the receiving thread reads
//! the socket on its own, then feeds rustls; the sending thread has rustls encrypt its
//! frame into records, then writes them to the socket on its own. Only the send side
//! writes records to the socket, so they go out in rustls' order; a record that reading
//! produced (an alert, a key update answer) goes out with the next send or at close.

use std::io::{self, Read, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use rustls::ClientConnection;

use super::socket::{Socket, is_timeout};
use crate::transport::tls::{ClientTls, TlsInfo};

pub(super) struct TlsSession {
    conn: Mutex<ClientConnection>,
    pub(super) info: TlsInfo,
}

impl TlsSession {
    /// Runs the client handshake over `socket`, bounded by the settings' handshake
    /// timeout. `host` is the name to check when the settings name no server.
    pub(super) fn handshake(tls: &ClientTls, host: &str, socket: &Socket) -> io::Result<Self> {
        let name = tls.server_name_for(host)?;
        let shown = name.to_str().into_owned();
        let mut conn = ClientConnection::new(tls.config().clone(), name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // The send side encrypts each whole frame at once (its bytes are then bounded by
        // the frame, as on plain TCP).
        conn.set_buffer_limit(None);
        let timeout = tls.handshake_timeout();
        let deadline = Instant::now() + timeout;
        let timed_out = || {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("TLS handshake timed out after {timeout:?}"),
            )
        };
        while conn.is_handshaking() || conn.wants_write() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            socket.set_read_timeout(Some(left))?;
            socket.set_write_timeout(Some(left))?;
            match conn.complete_io(&mut &*socket) {
                Ok((0, 0)) if conn.is_handshaking() => {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => return Err(timed_out()),
                Err(e) => return Err(e),
            }
        }
        socket.set_read_timeout(None)?;
        socket.set_write_timeout(None)?;
        let info = TlsInfo::new(&conn, Some(shown));
        Ok(TlsSession {
            conn: Mutex::new(conn),
            info,
        })
    }

    fn conn(&self) -> MutexGuard<'_, ClientConnection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the plaintext rustls holds into `buf`. `Ok(false)`: the server sent
    /// `close_notify` (the end of the stream).
    pub(super) fn take_plaintext(&self, buf: &mut BytesMut) -> io::Result<bool> {
        Self::drain(&mut self.conn(), buf)
    }

    fn drain(conn: &mut ClientConnection, buf: &mut BytesMut) -> io::Result<bool> {
        let mut chunk = [0; 4096];
        loop {
            match conn.reader().read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands rustls `records` read from the socket and moves the plaintext they hold into
    /// `buf`. `Ok(false)`: the server sent `close_notify`.
    pub(super) fn feed(&self, mut records: &[u8], buf: &mut BytesMut) -> io::Result<bool> {
        let mut conn = self.conn();
        let mut open = true;
        while !records.is_empty() {
            conn.read_tls(&mut records)?;
            conn.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            open &= Self::drain(&mut conn, buf)?;
        }
        Ok(open)
    }

    /// Encrypts `plaintext` (all of it) and appends to `out` every record rustls has to
    /// send: these and any it made while reading.
    pub(super) fn encrypt(&self, plaintext: &[u8], out: &mut BytesMut) -> io::Result<()> {
        let mut conn = self.conn();
        if !plaintext.is_empty() {
            conn.writer().write_all(plaintext)?;
        }
        Self::take_records(&mut conn, out)
    }

    /// Queues `close_notify` and appends it (with any record still held) to `out`.
    pub(super) fn close_notify(&self, out: &mut BytesMut) -> io::Result<()> {
        let mut conn = self.conn();
        conn.send_close_notify();
        Self::take_records(&mut conn, out)
    }

    fn take_records(conn: &mut ClientConnection, out: &mut BytesMut) -> io::Result<()> {
        let mut writer = (&mut *out).writer();
        while conn.wants_write() {
            conn.write_tls(&mut writer)?;
        }
        Ok(())
    }
}
