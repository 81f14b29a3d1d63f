//! Descriptors (pipe ends, a terminal's controlling end) read and written from async code on a
//! current-thread runtime, without blocking it: non-blocking, and woken by the reactor.
//!
//! Registering a descriptor with the reactor is `unsafe` in tokio (it must stay open for as long
//! as it is registered), hence here, the one crate allowed it: [`Fd`] owns what it registers.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, ReadBuf};

/// A descriptor read and written without blocking the pod's thread.
pub struct Fd(AsyncFd<OwnedFd>);

impl Fd {
    /// Takes `fd` over and makes it non-blocking (which its other holders of the same open
    /// file see too).
    pub fn new(fd: OwnedFd) -> io::Result<Fd> {
        let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // SAFETY: the AsyncFd owns the descriptor, so it stays open and names the same open file
        // for as long as the AsyncFd lives.
        let registered = unsafe { AsyncFd::register(fd) };
        Ok(Fd(registered.map_err(io::Error::from)?))
    }

    /// The descriptor, for calls such as a terminal's size.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }

    /// Reads what is there; 0 at the end. A terminal whose other side has closed reads EIO
    /// (pty(7)): that is its end too.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.0.readable().await?;
            match guard.try_io(|fd| read_once(fd.get_ref(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.0.writable().await?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }
}

fn read_once(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    match nix::unistd::read(fd.as_raw_fd(), buf) {
        Ok(n) => Ok(n),
        Err(nix::errno::Errno::EIO) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// An [`Fd`] as an `AsyncRead`, for the log pump of a terminal.
pub struct Reader(pub Rc<Fd>);

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.0 .0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|fd| read_once(fd.get_ref(), unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}
