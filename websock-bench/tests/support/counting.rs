//! The counting global allocator shared by the benchmark tests (`alloc_count`,
//! `channel_memory`), included by each with `#[path = "support/counting.rs"] mod counting;`.
//! Each test binary installs it itself:
//! `#[global_allocator] static GLOBAL: counting::Counting = counting::Counting;`.
//!
//! It counts only threads that opted in (`COUNTED`): allocations and bytes allocated so far,
//! and the live allocations by exact size, to itemise what something holds on the heap.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
};

/// The system allocator, counting what threads that opted in allocate and hold.
pub(crate) struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted. Const-initialised and without a
    /// destructor, so reading it never allocates.
    pub(crate) static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Allocations (a `realloc` counts as one) and bytes allocated so far by counted threads.
pub(crate) static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
pub(crate) static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

/// The counters are global: the tests of one binary that read them must not run at once
/// (`cargo test` runs a binary's tests in parallel). Each holds this for its whole run.
#[allow(dead_code)] // not every test binary that counts has several tests
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Live allocations by exact size (the last slot: every size from `LARGE` up).
const LARGE: usize = 1 << 16;
static LIVE_BY_SIZE: [AtomicI64; LARGE + 1] = [const { AtomicI64::new(0) }; LARGE + 1];
static LIVE_LARGE_BYTES: AtomicI64 = AtomicI64::new(0);

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

fn live(size: usize, delta: i64) {
    LIVE_BY_SIZE[size.min(LARGE)].fetch_add(delta, Ordering::Relaxed);
    if size >= LARGE {
        LIVE_LARGE_BYTES.fetch_add(delta * size as i64, Ordering::Relaxed);
    }
}

// SAFETY (for the `unsafe` below): every call is forwarded unchanged to `System`; the counters
// are atomics and the thread-local flag never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
            live(layout.size(), 1);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
            live(layout.size(), 1);
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            ALLOCATED_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
            live(layout.size(), -1);
            live(new_size, 1);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            live(layout.size(), -1);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The live allocation counts at one moment.
pub(crate) struct Snapshot {
    by_size: Vec<i64>,
    large: i64,
}

impl Snapshot {
    /// The live counts now. Not counted itself: its own 512 KiB table would be.
    pub(crate) fn now() -> Self {
        let counting = COUNTED.with(|c| c.replace(false));
        let snapshot = Snapshot {
            by_size: LIVE_BY_SIZE
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .collect(),
            large: LIVE_LARGE_BYTES.load(Ordering::Relaxed),
        };
        COUNTED.with(|c| c.set(counting));
        snapshot
    }

    /// What the live heap grew by from `before` to `self`: the bytes in all, the bytes of it in
    /// allocations of `LARGE` or more, and the change in count of each smaller size that changed,
    /// by size.
    pub(crate) fn grown_since(&self, before: &Snapshot) -> (i64, i64, Vec<(usize, i64)>) {
        let large = self.large - before.large;
        let mut total = large;
        let mut items = Vec::new();
        for size in 0..LARGE {
            let grown = self.by_size[size] - before.by_size[size];
            if grown != 0 {
                total += grown * size as i64;
                items.push((size, grown));
            }
        }
        (total, large, items)
    }
}

/// Freed uncounted, as it was made.
impl Drop for Snapshot {
    fn drop(&mut self) {
        let counting = COUNTED.with(|c| c.replace(false));
        drop(std::mem::take(&mut self.by_size));
        COUNTED.with(|c| c.set(counting));
    }
}

/// Prints `items` (allocation size, change in count) per `per` units of `what` as a markdown
/// table, largest bytes first, leaving out sizes of less than 0.05 allocations per unit.
pub(crate) fn print_table(mut items: Vec<(usize, i64)>, per: usize, what: &str) {
    println!("| allocation size | count per {what} | bytes per {what} |");
    println!("| ---: | ---: | ---: |");
    items.sort_by_key(|&(size, count)| std::cmp::Reverse(size as i64 * count));
    for (size, count) in items {
        let each = count as f64 / per as f64;
        if each.abs() >= 0.05 {
            println!("| {size} | {each:.2} | {:.0} |", each * size as f64);
        }
    }
}

/// Runs `serve` on a new thread whose allocations are counted, in a current-thread runtime, until
/// the returned sender is dropped.
#[allow(dead_code)] // not every test binary that counts starts its own server
pub(crate) fn counted_server<F, Fut>(
    serve: F,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>)
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        COUNTED.set(true);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            tokio::select! {
                () = serve(listener) => {}
                _ = stop_rx => {}
            }
        });
        COUNTED.set(false);
    });
    (addr_rx.recv().unwrap(), stop_tx)
}
