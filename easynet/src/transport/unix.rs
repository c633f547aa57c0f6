//! Unix stream sockets: binding a listener at a path (its permissions, a stale file left
//! by a server that died), and removing the file when the server closes.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};
use tokio::net::UnixListener;

/// How to bind a Unix stream listener.
#[derive(Debug, Clone)]
pub(crate) struct UnixBind {
    pub(crate) backlog: u32,
    /// The socket file's permission bits (`0o660`); `None` leaves the process umask's.
    pub(crate) mode: Option<u32>,
    /// Remove a socket file that no server listens on any more.
    pub(crate) remove_stale: bool,
    /// Remove the socket file when the server closes.
    pub(crate) remove_on_close: bool,
}

/// The socket file of a bound listener: removed on drop (when asked to), if it is still
/// the file this listener created (not a successor's).
#[derive(Debug)]
// `pub` only because the sealed `Transport` trait names it; unreachable from outside.
#[allow(unreachable_pub)]
pub struct UnixSocketFile {
    path: PathBuf,
    /// Device and inode of the file at bind time.
    identity: Option<(u64, u64)>,
    remove_on_close: bool,
}

impl UnixSocketFile {
    /// The file just bound at `path`, removed on drop when `remove_on_close`.
    pub(crate) fn created(path: &Path, remove_on_close: bool) -> Self {
        let identity = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        UnixSocketFile {
            path: path.to_owned(),
            identity,
            remove_on_close,
        }
    }

    /// The path the listener is bound to.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        if !self.remove_on_close {
            return;
        }
        let still_ours = std::fs::symlink_metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()))
            == self.identity;
        if still_ours && let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot remove the socket file");
        }
    }
}

/// Binds a listener at `path`, after dealing with a file already there: a socket no
/// server listens on is stale (removed when `remove_stale`), a live socket or any other
/// file is an error (never removed).
pub(crate) fn bind_unix(
    path: &Path,
    options: &UnixBind,
) -> io::Result<(UnixListener, UnixSocketFile)> {
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        clear_existing(path, &metadata, options.remove_stale)?;
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket
        .bind(&SockAddr::unix(path)?)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    if let Some(mode) = options.mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    socket.listen(options.backlog.min(i32::MAX as u32) as i32)?;
    socket.set_nonblocking(true)?;
    let identity = std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()));
    let listener = UnixListener::from_std(socket.into())?;
    Ok((
        listener,
        UnixSocketFile {
            path: path.to_owned(),
            identity,
            remove_on_close: options.remove_on_close,
        },
    ))
}

/// Takes a Unix stream listening socket bound elsewhere (a parent process, systemd's
/// socket activation) for a server: it must be a Unix stream socket bound to a path and,
/// where the system tells, already listening. Made non-blocking.
pub(crate) fn adopt_unix(
    socket: Socket,
    remove_on_close: bool,
) -> io::Result<(UnixListener, UnixSocketFile)> {
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the inherited socket {what}"),
        )
    };
    if socket.r#type()? != Type::STREAM {
        return Err(invalid("is not a stream socket"));
    }
    let local = socket.local_addr()?;
    if !local.is_unix() {
        return Err(invalid("is not a Unix socket"));
    }
    let path = local
        .as_pathname()
        .ok_or_else(|| invalid("is not bound to a path"))?
        .to_owned();
    #[cfg(any(
        target_os = "android",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "linux"
    ))]
    if !socket.is_listener()? {
        return Err(invalid("is not listening (call listen() on it first)"));
    }
    socket.set_nonblocking(true)?;
    let identity = std::fs::symlink_metadata(&path)
        .ok()
        .map(|m| (m.dev(), m.ino()));
    let listener = UnixListener::from_std(socket.into())?;
    Ok((
        listener,
        UnixSocketFile {
            path,
            identity,
            remove_on_close,
        },
    ))
}

fn clear_existing(path: &Path, metadata: &std::fs::Metadata, remove_stale: bool) -> io::Result<()> {
    let shown = path.display();
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{shown} exists and is not a socket"),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("a server is listening on {shown}"),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && remove_stale => {
            tracing::debug!(path = %shown, "removing a stale socket file");
            std::fs::remove_file(path)
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{shown} is a stale socket file (remove_stale is off)"),
        )),
        Err(e) => Err(io::Error::new(e.kind(), format!("{shown}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> UnixBind {
        UnixBind {
            backlog: 16,
            mode: Some(0o600),
            remove_stale: true,
            remove_on_close: true,
        }
    }

    #[tokio::test]
    async fn binding_replaces_a_stale_file_and_refuses_a_live_one() {
        let dir = std::env::temp_dir().join(format!("easynet-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stale.sock");
        let _ = std::fs::remove_file(&path);
        // A socket file nobody listens on: what a killed server leaves.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let (listener, file) = bind_unix(&path, &options()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let live = bind_unix(&path, &options()).unwrap_err();
        assert_eq!(live.kind(), io::ErrorKind::AddrInUse, "{live}");
        drop((listener, file));
        assert!(!path.exists(), "the socket file was not removed on close");

        std::fs::write(&path, b"not a socket").unwrap();
        let refused = bind_unix(&path, &options()).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::AlreadyExists, "{refused}");
        assert!(path.exists(), "a regular file was removed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
