//! The reader child: `spdesk reader-child --memory BYTES`, started by [`super::Sandbox`] with
//! an empty environment. It confines itself with resource limits before it reads anything,
//! then answers read requests on stdin/stdout until stdin ends. Whatever a hostile document
//! does to it (a stack overflow in a recursive parser, an allocation over the memory limit,
//! a loop past the CPU budget), the kernel ends this process, never the daemon.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::protocol::{ProtocolError, read_request, write_answer};
use crate::forms::reader::{ReadJob, ReadRequest, read_document, reader_failed};

/// Stack for the reader: a recursive parser that goes deeper overflows into a crash of this
/// process (SIGSEGV or Rust's abort), which the parent reports as an unreadable file.
const STACK_BYTES: u64 = 8 * 1024 * 1024;
/// stdin, stdout, stderr and the protocol's copy of stdout, with room to spare.
const OPEN_FILES: u64 = 16;

/// Exit status when the child could not confine itself (it then reads nothing).
pub const EXIT_CONFINE_FAILED: u8 = 70;
/// Exit status when the parent's stream was not a valid request.
pub const EXIT_PROTOCOL: u8 = 71;

/// The child's whole life; returns its exit status.
pub fn main(memory: u64) -> u8 {
    let output = match confine(memory) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("spdesk reader-child: cannot set its limits: {e}");
            return EXIT_CONFINE_FAILED;
        }
    };
    // A panic is answered as a damaged file; its message would only fill the stderr pipe.
    std::panic::set_hook(Box::new(|_| {}));
    let mut input = io::stdin().lock();
    let mut output = BufWriter::new(output);
    match serve(&mut input, &mut output, set_cpu_budget) {
        Ok(()) => 0,
        Err(_) => EXIT_PROTOCOL,
    }
}

/// Answers every request on `input` until it ends cleanly. `before_each` runs before each
/// reader (the child sets its CPU budget there; the fuzz target, which feeds arbitrary
/// requests, puts the default limits in). A panicking reader is answered as damaged.
pub fn serve<R: Read, W: Write>(
    input: &mut R,
    output: &mut W,
    mut before_each: impl FnMut(&mut ReadJob),
) -> Result<(), ProtocolError> {
    while let Some(mut request) = read_request(input)? {
        before_each(&mut request.job);
        let answer = catch_unwind(AssertUnwindSafe(|| {
            read_document(ReadRequest {
                job: &request.job,
                bytes: &request.bytes,
            })
        }))
        .unwrap_or_else(|_| Err(reader_failed()));
        drop(request);
        write_answer(output, &answer)?;
        output.flush()?;
    }
    Ok(())
}

/// Sets the limits that hold for the child's whole life, and moves the protocol off fd 1 (a
/// library that prints to stdout must not corrupt the answers: fd 1 becomes /dev/null).
/// Returns the protocol's output.
fn confine(memory: u64) -> io::Result<File> {
    set_limit(libc::RLIMIT_CORE, 0)?;
    set_limit(libc::RLIMIT_AS, memory)?;
    set_limit(libc::RLIMIT_STACK, STACK_BYTES)?;
    // The readers write no files and start no processes or threads.
    set_limit(libc::RLIMIT_FSIZE, 0)?;
    set_limit(libc::RLIMIT_NPROC, 0)?;
    // SAFETY: dup and dup2 on descriptors this process owns; the new descriptor is owned by
    // the returned File alone.
    let protocol = unsafe {
        let fd = libc::dup(io::stdout().as_raw_fd());
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        File::from_raw_fd(fd)
    };
    let null = OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: replaces fd 1 with /dev/null; both descriptors are open.
    if unsafe { libc::dup2(null.as_raw_fd(), io::stdout().as_raw_fd()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(null);
    set_limit(libc::RLIMIT_NOFILE, OPEN_FILES)?;
    Ok(protocol)
}

/// Lowers a resource's soft and hard limit to `value` (or to the hard limit if lower).
fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let hard = current_limit(resource)?.rlim_max;
    let value = value.min(hard);
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit with a valid pointer to an initialised rlimit.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn current_limit(resource: libc::__rlimit_resource_t) -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we pass.
    if unsafe { libc::getrlimit(resource, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

/// Lets the next reader use the job's time in CPU seconds (rounded up) on top of what this
/// process used so far: past it the kernel sends SIGXCPU, which ends the child. The hard
/// limit stays where it was, so the soft limit can be raised again for the next request.
fn set_cpu_budget(job: &mut ReadJob) {
    let budget = job.timeout.as_secs().saturating_add(1);
    let Ok(current) = current_limit(libc::RLIMIT_CPU) else {
        return;
    };
    let soft = cpu_seconds_used()
        .saturating_add(budget)
        .min(current.rlim_max);
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: current.rlim_max,
    };
    // SAFETY: setrlimit with a valid pointer to an initialised rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_CPU, &limit) };
}

/// User and system CPU time of this process, in whole seconds rounded up.
fn cpu_seconds_used() -> u64 {
    // SAFETY: getrusage writes into the zeroed rusage we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0;
        }
        usage
    };
    let secs = usage.ru_utime.tv_sec.saturating_add(usage.ru_stime.tv_sec);
    u64::try_from(secs).unwrap_or(0).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::raw::{ReadError, ReadLimits};
    use crate::forms::reader::{ReadOutput, ReaderKind};
    use crate::sandbox::protocol::{read_answer, write_request};
    use std::time::Duration;

    fn job(kind: ReaderKind) -> ReadJob {
        ReadJob {
            kind,
            source: "attachment:x".into(),
            limits: ReadLimits::default(),
            max_files: 5,
            timeout: Duration::from_secs(1),
        }
    }

    /// Requests in, one answer each out, in order; the budget hook runs before each.
    #[test]
    fn serve_answers_each_request() {
        let mut wire = Vec::new();
        write_request(
            &mut wire,
            &job(ReaderKind::Html),
            b"<p>Titel</p><p>CVR-nr.: 1</p>",
        )
        .unwrap();
        write_request(&mut wire, &job(ReaderKind::Pdf), b"not a pdf").unwrap();
        let mut out = Vec::new();
        let mut seen = Vec::new();
        serve(&mut wire.as_slice(), &mut out, |j| seen.push(j.kind)).unwrap();
        assert_eq!(seen, [ReaderKind::Html, ReaderKind::Pdf]);
        let mut answers = out.as_slice();
        assert!(matches!(
            read_answer(&mut answers).unwrap(),
            Ok(ReadOutput::Form(_))
        ));
        assert!(matches!(
            read_answer(&mut answers).unwrap(),
            Err(ReadError::Damaged(_))
        ));
        assert!(answers.is_empty());
    }

    #[test]
    fn serve_stops_on_a_broken_stream() {
        let mut out = Vec::new();
        assert!(serve(&mut &b"\x05\x00\x00\x00{"[..], &mut out, |_| {}).is_err());
        assert!(out.is_empty());
    }
}
