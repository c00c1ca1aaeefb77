//! The counting allocator and the trim of `journey_api::memory`, installed here as in the `journey`
//! binary. One test function: the counter is the process's, so tests running in parallel threads
//! would see each other's allocations.

use journey_api::memory::{self, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: usize = 1024 * 1024;

#[test]
fn live_bytes_follow_allocations_and_trim_gives_freed_pages_back() {
    // Given the live bytes of the process now, counted from here on,
    memory::count_live_bytes();
    // (a block held to the end, so the count is above zero whatever was freed since it began)
    let _held = vec![1u8; MIB];
    let before = memory::live_bytes().expect("the counting allocator is installed");

    // when 64 MiB are allocated in small blocks (as decoded events are),
    let blocks: Vec<Vec<u8>> = (0..64 * 1024)
        .map(|i| vec![(i % 251) as u8; 1024])
        .collect();
    let held = memory::live_bytes().expect("installed");
    let resident_held = memory::resident_bytes();

    // then the counter grew by at least those bytes and by little more (the outer vector).
    let grown = held - before;
    assert!(grown >= 64 * MIB as u64, "grew by {grown} bytes only");
    assert!(grown < 66 * MIB as u64, "grew by {grown} bytes");

    // When all but every 64th block are freed,
    let kept: Vec<Vec<u8>> = blocks.into_iter().step_by(64).collect();
    let thinned = memory::live_bytes().expect("installed");

    // then the counter holds what is still live: a 64th of the blocks' bytes and the new outer
    // vector, not what the allocator keeps.
    let live = thinned - before;
    assert!(
        (MIB as u64..2 * MIB as u64).contains(&live),
        "{live} bytes live"
    );

    // And when the rest is freed too and the allocator is trimmed, resident memory falls by most
    // of what was held: mimalloc gives back a page once every block on it is free (a page with
    // one live block on it stays, which is why the live bytes are counted rather than read from
    // RSS), by itself after a delay or at once when asked (`mi_collect`).
    drop(kept);
    memory::trim();
    let trimmed = memory::resident_bytes();
    assert!(
        resident_held.saturating_sub(trimmed) >= 32 * MIB as u64,
        "resident {resident_held} bytes while the blocks were held, {trimmed} after the trim"
    );
}
