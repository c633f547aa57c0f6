//! What an `accept` error means for the accept loop.

use std::io;

/// What to do after `accept` failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// The process or the system ran out of something (file descriptors, buffers,
    /// memory): wait a little before accepting again, as easynetwork does (100 ms).
    OutOfResources,
    /// The connection went away before we took it, or a transient error: go on at once.
    Transient,
}

pub(crate) fn classify_accept_error(error: &io::Error) -> AcceptFailure {
    #[cfg(unix)]
    if let Some(code) = error.raw_os_error()
        && [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM].contains(&code)
    {
        return AcceptFailure::OutOfResources;
    }
    if error.kind() == io::ErrorKind::OutOfMemory {
        return AcceptFailure::OutOfResources;
    }
    AcceptFailure::Transient
}

/// How long to pause accepting after running out of resources (easynetwork: 100 ms).
pub(crate) const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_pauses_accepting() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(
            classify_accept_error(&emfile),
            AcceptFailure::OutOfResources
        );
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(classify_accept_error(&aborted), AcceptFailure::Transient);
    }
}
