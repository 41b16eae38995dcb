//! A global allocator that counts allocations, so that a benchmark can report
//! allocations per call beside its times. Shared by the benchmark binaries through
//! `#[path]`; each binary that includes it counts its own allocations.
//!
//! Counting is switched on only inside [`allocations_per_call`]: outside it an
//! allocation costs one relaxed load more than the system allocator, so the timed
//! runs do not charge an atomic add per allocation to whoever allocates most (the
//! peers).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations per call of `run(calls)`: it is warmed up with 10 calls, then measured
/// over `calls` (on every thread, so a loopback server's count is included).
pub fn allocations_per_call(calls: u64, mut run: impl FnMut(u64)) -> f64 {
    run(10);
    COUNTING.store(true, Ordering::SeqCst);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run(calls);
    let counted = ALLOCATIONS.load(Ordering::Relaxed) - before;
    COUNTING.store(false, Ordering::SeqCst);
    counted as f64 / calls as f64
}
