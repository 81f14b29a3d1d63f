//! Descriptors sent along a message over a unix socket (SCM_RIGHTS, unix(7)): a client of a
//! pod's supervisor hands over the pipe ends of an exec'd command's stdio, and gets back the
//! controlling end of its pseudo-terminal. Owns only the two calls; what is sent is the
//! supervisor's protocol.

/// The most descriptors one message carries.
const MAX_FDS: usize = 4;

/// Sends `bytes` with `fds` attached (at most [`MAX_FDS`]); a short send is an error, since the
/// descriptors went with its first part.
pub fn send_with_fds(
    socket: std::os::fd::BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> std::io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    use std::os::fd::AsRawFd;
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsgs = if raw.is_empty() {
        vec![]
    } else {
        vec![ControlMessage::ScmRights(&raw)]
    };
    let iov = [std::io::IoSlice::new(bytes)];
    let sent = sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &iov,
        &cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    if sent < bytes.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "the message was sent in part",
        ));
    }
    Ok(())
}

/// Receives bytes into `buf` and the descriptors that came with them (close-on-exec).
pub fn recv_with_fds(
    socket: std::os::fd::BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::io::Result<(usize, Vec<std::os::fd::OwnedFd>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; MAX_FDS]);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: the kernel installed these descriptors in this process for this message;
            // nothing else owns them.
            fds.extend(
                raw.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    Ok((msg.bytes, fds))
}
