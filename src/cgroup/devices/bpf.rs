//! The `bpf(2)` calls of the cgroup v2 device filter: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to a cgroup
//! (`BPF_F_ALLOW_MULTI`), and detach the one this crate attached before.
//!
//! # References
//!
//! `bpf(2)`; `include/uapi/linux/bpf.h` (`union bpf_attr`,
//! `struct bpf_prog_info`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::Insn;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The name our programs carry (`bpf_prog_info.name`, 15 bytes at most):
/// how a later update finds the program to replace.
pub(crate) const PROG_NAME: &[u8] = b"containment_dev";

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, zero-padded (the kernel
/// requires every byte past what it knows to be zero).
#[repr(C, align(8))]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _pad: [u8; 64],
}

/// `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C, align(8))]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: [u8; 44],
}

/// `BPF_PROG_QUERY`.
#[repr(C, align(8))]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: [u8; 36],
}

/// `BPF_PROG_GET_FD_BY_ID`.
#[repr(C, align(8))]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: [u8; 52],
}

/// `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C, align(8))]
struct InfoByFd {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
    _pad: [u8; 48],
}

/// The head of `struct bpf_prog_info`, up to its name.
#[repr(C, align(8))]
#[derive(Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// `bpf(cmd, attr, sizeof attr)`.
///
/// # Safety
///
/// `attr` must be the attribute struct of `cmd`, with every pointer in it
/// valid for what the kernel reads or writes there.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller guarantees attr's contents; its size is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Loads the device program; the verifier's log is in the error.
pub(crate) fn load(prog: &[Insn]) -> io::Result<OwnedFd> {
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 16 * 1024];
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
        _pad: [0; 64],
    };
    // SAFETY: insns, license and log_buf point at live buffers of the
    // lengths given, for the duration of the call.
    match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
        // SAFETY: PROG_LOAD returns a new descriptor that is ours alone.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            if text.trim().is_empty() {
                Err(e)
            } else {
                Err(io::Error::new(
                    e.kind(),
                    format!("{e}; verifier: {}", text.trim()),
                ))
            }
        }
    }
}

fn attach_attr(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>, flags: u32) -> Attach {
    Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: 0,
        _pad: [0; 44],
    }
}

/// The ids of the device programs attached to this cgroup itself (not
/// its ancestors').
fn query(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = Query {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        query_flags: 0,
        attach_flags: 0,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        _pad: [0; 36],
    };
    // SAFETY: prog_ids points at prog_cnt writable u32s.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr)? };
    ids.truncate(attr.prog_cnt.min(64) as usize);
    Ok(ids)
}

/// A descriptor of program `id` and whether it is one of ours (by name).
fn ours(id: u32) -> io::Result<Option<OwnedFd>> {
    let mut attr = GetFdById {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
        _pad: [0; 52],
    };
    // SAFETY: no pointers in this attr.
    let fd = match unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) } {
        // SAFETY: a new descriptor that is ours alone.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
        // Detached and freed meanwhile.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut info = ProgInfo::default();
    let mut attr = InfoByFd {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
        _pad: [0; 48],
    };
    // SAFETY: info points at info_len writable bytes.
    unsafe { bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)? };
    let end = info.name.iter().position(|&b| b == 0).unwrap_or(16);
    Ok((&info.name[..end] == PROG_NAME).then_some(fd))
}

/// Attaches `prog` to the cgroup (`BPF_F_ALLOW_MULTI`: programs of
/// ancestors and of others on this cgroup keep running; every one must
/// allow an access), then detaches the programs this crate attached
/// there before (so that the new rules replace the old ones with no
/// moment without a filter).
pub(crate) fn attach_replacing(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut old = Vec::new();
    for id in query(cgroup)? {
        if let Some(fd) = ours(id)? {
            old.push(fd);
        }
    }
    let mut attr = attach_attr(cgroup, prog, BPF_F_ALLOW_MULTI);
    // SAFETY: descriptors only.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr)? };
    for fd in old {
        let mut attr = attach_attr(cgroup, fd.as_fd(), 0);
        // SAFETY: descriptors only.
        match unsafe { bpf(BPF_PROG_DETACH, &mut attr) } {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether our program is attached to the cgroup (for tests).
pub(crate) fn attached(cgroup: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n = 0;
    for id in query(cgroup)? {
        if ours(id)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_sizes() {
        // Every struct fits `union bpf_attr`'s first 64..128 bytes with
        // the fields at the kernel's offsets.
        assert_eq!(std::mem::size_of::<Attach>(), 64);
        assert_eq!(std::mem::size_of::<Query>(), 64);
        assert_eq!(std::mem::offset_of!(Query, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(Query, prog_cnt), 24);
        assert_eq!(std::mem::offset_of!(ProgLoad, prog_name), 48);
        assert_eq!(std::mem::offset_of!(ProgLoad, expected_attach_type), 68);
        assert_eq!(std::mem::offset_of!(ProgInfo, name), 64);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }
}
