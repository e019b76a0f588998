//! A global allocator that records allocations made in the child between
//! clone and exec: any call in a process other than the test's own writes a
//! byte to a close-on-exec pipe, so only pre-exec allocations reach it.
//!
//! A test binary installs it with
//! `#[global_allocator] static GLOBAL: common::alloc::Recording = common::alloc::Recording;`
//! and brackets the spawns with [`Detector::start`] and [`Detector::finish`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, Ordering};

static PARENT: AtomicI32 = AtomicI32::new(0);
static REPORT: AtomicI32 = AtomicI32::new(-1);

/// The recording allocator (forwards to the system allocator).
pub struct Recording;

impl Recording {
    fn note(&self) {
        let parent = PARENT.load(Ordering::Relaxed);
        // SAFETY: getpid and write are async-signal-safe system calls.
        unsafe {
            if parent != 0 && libc::getpid() != parent {
                let fd = REPORT.load(Ordering::Relaxed);
                if fd >= 0 {
                    libc::write(fd, b"A".as_ptr().cast(), 1);
                }
            }
        }
    }
}

// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(p, l, n) }
    }
}

/// The reading end of the report pipe while detection is on.
pub struct Detector {
    read: i32,
}

impl Detector {
    /// Starts recording allocations of other processes.
    pub fn start() -> Detector {
        let mut fds = [0; 2];
        // SAFETY: valid out-array.
        let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
        assert_eq!(r, 0);
        REPORT.store(fds[1], Ordering::Relaxed);
        // SAFETY: getpid has no preconditions.
        PARENT.store(unsafe { libc::getpid() }, Ordering::Relaxed);
        Detector { read: fds[0] }
    }

    /// Allocations seen since the last call.
    pub fn drain(&self) -> usize {
        let mut total = 0;
        let mut buf = [0u8; 256];
        loop {
            // SAFETY: non-blocking read into a live buffer.
            let n = unsafe { libc::read(self.read, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return total;
            }
            total += n as usize;
        }
    }

    /// Stops recording and returns what was seen since the last drain.
    pub fn finish(self) -> usize {
        let n = self.drain();
        PARENT.store(0, Ordering::Relaxed);
        n
    }
}
