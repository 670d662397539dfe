//! The parent's ends of a reader child's pipes, read and written under a wall-clock deadline.
//!
//! The child gets `reader_timeout` per request. The parent used to start a watchdog thread
//! per request that killed the child when the time ran out; a thread per document is a
//! clone, a stack mapped and unmapped and a few thread switches, per mail, in the daemon's
//! own CPU. Here the pipe ends are non-blocking and every wait for the child is a poll(2)
//! that ends at the deadline, so the thread that sends the request is the one that notices
//! the child ran past its time (and then kills it, [`super::Sandbox`]).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

/// A pipe end whose reads and writes wait at most until `deadline`; past it they fail with
/// [`io::ErrorKind::TimedOut`].
#[derive(Debug)]
pub struct Timed<T> {
    inner: T,
    pub deadline: Instant,
}

impl<T: AsFd> Timed<T> {
    /// Makes `inner` non-blocking (its own open file description: the child's end of the pipe
    /// is not affected). The deadline is set per request.
    pub fn new(inner: T) -> io::Result<Timed<T>> {
        let fd = inner.as_fd().as_raw_fd();
        // SAFETY: fcntl(2) on a descriptor `inner` owns for as long as this call; no memory
        // is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Timed {
            inner,
            deadline: Instant::now(),
        })
    }

    /// Waits until the pipe is ready for `events` or the deadline has passed.
    fn wait(&self, events: libc::c_short) -> io::Result<()> {
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the reader child ran past its time",
                ));
            }
            let mut pfd = libc::pollfd {
                fd: self.inner.as_fd().as_raw_fd(),
                events,
                revents: 0,
            };
            // Rounded up: a wait never ends just before the deadline and spins.
            let ms = left.as_millis().saturating_add(1);
            let ms = libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd, owned by this frame, for the length of the call.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            // Ready, hung up or in error: the next read or write says which.
            if n > 0 {
                return Ok(());
            }
        }
    }

    /// Runs `op` until it does not find the pipe busy, waiting for `events` in between.
    fn retry<R>(
        &mut self,
        events: libc::c_short,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op(&mut self.inner) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(events)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl<T: AsFd + Read> Read for Timed<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.retry(libc::POLLIN, |p| p.read(buf))
    }
}

impl<T: AsFd + Write> Write for Timed<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.retry(libc::POLLOUT, |p| p.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.retry(libc::POLLOUT, |p| p.flush())
    }
}

/// The deadline `timeout` from now (far in the future if it does not fit an [`Instant`]).
pub fn deadline_in(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{PipeReader, PipeWriter};

    fn pipe() -> (Timed<PipeReader>, Timed<PipeWriter>) {
        let (r, w) = std::io::pipe().unwrap_or_else(|e| panic!("pipe: {e}"));
        let r = Timed::new(r).unwrap_or_else(|e| panic!("{e}"));
        let w = Timed::new(w).unwrap_or_else(|e| panic!("{e}"));
        (r, w)
    }

    /// Silence from the other end ends at the deadline, not before and not much after.
    #[test]
    fn a_read_from_a_silent_pipe_ends_at_the_deadline() {
        let (mut r, _w) = pipe();
        let start = Instant::now();
        r.deadline = deadline_in(Duration::from_millis(200));
        let e = r.read(&mut [0u8; 8]).err().map(|e| e.kind());
        let took = start.elapsed();
        assert_eq!(e, Some(io::ErrorKind::TimedOut));
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    /// A write into a full pipe nobody reads ends at the deadline too.
    #[test]
    fn a_write_into_a_full_pipe_ends_at_the_deadline() {
        let (_r, mut w) = pipe();
        w.deadline = deadline_in(Duration::from_millis(200));
        let e = w.write_all(&vec![0u8; 4 << 20]).err().map(|e| e.kind());
        assert_eq!(e, Some(io::ErrorKind::TimedOut));
    }

    /// Bytes that arrive in time are read whole, across many waits.
    #[test]
    fn bytes_that_arrive_in_time_are_read() {
        let (mut r, mut w) = pipe();
        r.deadline = deadline_in(Duration::from_secs(30));
        w.deadline = r.deadline;
        let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let copy = sent.clone();
        let writer = std::thread::spawn(move || w.write_all(&copy).map(|()| drop(w)));
        let mut got = Vec::new();
        r.read_to_end(&mut got)
            .unwrap_or_else(|e| panic!("read: {e}"));
        assert!(writer.join().is_ok_and(|r| r.is_ok()));
        assert_eq!(got, sent);
    }
}
