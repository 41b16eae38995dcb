//! A global allocator that counts allocations, so that a benchmark can report
//! allocations per call beside its times. Shared by the benchmark binaries through
//! `#[path]`; each binary that includes it counts its own allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations per call of `run(calls)`: it is warmed up with 10 calls, then measured
/// over `calls` (on every thread, so a loopback server's count is included).
pub fn allocations_per_call(calls: u64, mut run: impl FnMut(u64)) -> f64 {
    run(10);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run(calls);
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / calls as f64
}
