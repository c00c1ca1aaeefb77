//! The `journey` binary's allocator, what the process really holds in memory, and giving back what
//! it no longer holds.
//!
//! The allocator is mimalloc, not glibc's. Under glibc, memory freed by one thread and allocated
//! again by another stayed in the first one's arena: seeding a million persons (the ledger's cache
//! of person states filled and dropped every 100,000 persons, sled's write buffers allocated and
//! freed on different threads) grew past 10 GB resident at 400,000 persons while the live heap
//! stayed under 3 GB, and would not have fitted in 24 GB; mimalloc gives freed pages back and
//! used about a third less CPU for the same seeding (docs/bench.md, "The allocator").
//!
//! Resident memory (RSS) still counts what the allocator keeps after it was freed, so RSS says
//! little about what the projections hold. Two tools here:
//! - [`Counting`], the global allocator: mimalloc, counting the bytes allocated and not yet freed
//!   ([`live_bytes`]) once [`count_live_bytes`] was called. The `journey` binary installs it and
//!   `journey bench projections` switches the count on, so it prints live bytes by part beside
//!   RSS. Switched off (`journey serve` and every other command) it costs one relaxed load of a
//!   flag that never changes per allocation, instead of an atomic addition on one cache line that
//!   every thread would write.
//! - [`trim`], which asks both allocators to give their free pages back to the system (mimalloc's
//!   `mi_collect`, and glibc's `malloc_trim(0)` for what C code allocates through it), called after
//!   a catch-up and after a snapshot load.
//!
//! This is the one module of the workspace with `unsafe` code, for two reasons only: implementing
//! `GlobalAlloc` is an `unsafe impl` by definition, and `mi_collect`, `malloc_trim` and `prctl` are
//! C functions. All of it only forwards to the allocators; none of it touches a pointer's memory.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Bytes allocated and not yet freed through [`Counting`]. Signed: a block allocated before the
/// counting allocator was installed can never be freed through it (Rust installs it before `main`),
/// but a signed counter keeps the arithmetic honest either way.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Whether [`Counting`] counts (see [`count_live_bytes`]).
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Switches the count of live bytes on for the rest of the process. Blocks allocated before are
/// not counted, and their frees are subtracted: call it before the work whose memory is measured,
/// and compare the counts of two moments rather than reading one.
pub fn count_live_bytes() {
    COUNTING.store(true, Ordering::Relaxed);
}

/// Adds `bytes` (negative: frees) to the live count when counting is on.
fn count(bytes: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        LIVE.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// mimalloc, counting live bytes. Install with `#[global_allocator]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

// SAFETY (the reason for `unsafe` here): every method forwards its arguments unchanged to
// `MiMalloc`, which upholds `GlobalAlloc`'s contract; the counter is only arithmetic on sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is `MiMalloc::alloc`'s.
        let block = unsafe { MiMalloc.alloc(layout) };
        if !block.is_null() {
            count(layout.size() as isize);
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let block = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !block.is_null() {
            count(layout.size() as isize);
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` was allocated by this allocator, hence by `MiMalloc`, with `layout`.
        unsafe { MiMalloc.dealloc(block, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `block` was allocated by `MiMalloc` with `layout`; the caller's contract is
        // `MiMalloc::realloc`'s.
        let moved = unsafe { MiMalloc.realloc(block, layout, new_size) };
        if !moved.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

/// Bytes allocated and not yet freed since [`count_live_bytes`], when the process runs with
/// [`Counting`] installed (the `journey` binary); `None` when counting is off or nothing was
/// counted (a binary without the allocator).
pub fn live_bytes() -> Option<u64> {
    let live = LIVE.load(Ordering::Relaxed);
    (COUNTING.load(Ordering::Relaxed) && live > 0).then_some(live as u64)
}

/// The live heap bytes of what `make` builds (a deep copy of a structure, to weigh it), measured
/// while it is held and dropped afterwards; 0 when counting is off.
pub fn live_bytes_of<T>(make: impl FnOnce() -> T) -> u64 {
    let before = live_bytes().unwrap_or(0);
    let made = make();
    let bytes = live_bytes().unwrap_or(0).saturating_sub(before);
    drop(made);
    bytes
}

/// Gives every free page the allocator holds back to the system, so that resident memory is what
/// is live (plus fragmentation). Called where a large transient peak has just been freed: after a
/// catch-up of the projections and after a snapshot load.
pub fn trim() {
    // SAFETY: `mi_collect` takes a flag and only walks mimalloc's own heaps; it is safe to call
    // from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes a plain integer and only walks glibc's own arenas; it is safe to
    // call from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Turns transparent huge pages off for this process (`prctl(PR_SET_THP_DISABLE)`, Linux), first
/// thing in `main`; whether the kernel took it.
///
/// mimalloc asks for huge pages on its arenas (`madvise(MADV_HUGEPAGE)`), and frees memory back
/// in 64 KiB pieces a second after it was freed: each piece split a huge page, and each new fault
/// in such a region zeroed (and, with the kernel's `defrag=madvise`, compacted for) a whole 2 MiB
/// again. Loading a projections snapshot of 100,000 persons took 210,000 small faults without
/// them against 6,000–10,000 huge ones with them, and a third less CPU (docs/bench.md, "The
/// start's phases, and huge pages"). The process-wide switch also covers kernels set to `always`, where every mapping of the
/// process would get them without asking.
pub fn no_transparent_huge_pages() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)` takes integers only and reads or writes
        // no memory of the process; it sets a flag of the process's address space.
        #[allow(unsafe_code)]
        let set = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        set == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Resident memory of this process in bytes (Linux), 0 where unknown.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .nth(1)
                .and_then(|pages| pages.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}
