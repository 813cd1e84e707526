//! What only the memory history has: a byte budget in place of a file behind it.

mod support;

use support::{draft, keep, room};

use chat_store::MemoryHistory;
use chat_ws::history::{History, now_ms};

const BUDGET: usize = 1 << 20;

fn fill(h: &mut MemoryHistory, name: &str, n: usize) {
    let text = "x".repeat(4_000);
    for _ in 0..n {
        h.append(draft(name, &text, None), now_ms())
            .expect("append");
    }
}

#[test]
fn past_its_budget_it_forgets_the_least_recently_used_rooms_first() {
    let mut h = MemoryHistory::with_budget(keep(10_000), BUDGET);
    // Nobody is in "old" any more; "member" still has members; "busy" is where it goes on.
    fill(&mut h, "old", 50);
    h.release(&room("old"));
    fill(&mut h, "member", 10);
    fill(&mut h, "busy", 400);

    assert!(
        h.bytes_in_memory() <= BUDGET,
        "{} bytes",
        h.bytes_in_memory()
    );
    // The released room went whole: a new message there starts again at 1.
    assert_eq!(h.last_seq(&room("old")).expect("seq"), 0);
    // The room with members lost its messages but keeps its seq.
    assert_eq!(h.last_seq(&room("member")).expect("seq"), 10);
    let gone = h.since(&room("member"), 0, u64::MAX).expect("since");
    assert!(gone.messages.is_empty() && !gone.complete);
    assert_eq!(h.rooms_in_memory(), 2);
    // The busy room kept its newest messages, consecutive, and says what it lost.
    let page = h.page(&room("busy"), u64::MAX, 200).expect("page");
    let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs.last(), Some(&400));
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(page.has_more);
}

#[test]
fn many_rooms_of_one_message_stay_within_the_budget() {
    let mut h = MemoryHistory::with_budget(keep(10_000), BUDGET);
    for n in 0..20_000 {
        let name = format!("room-{n}");
        h.append(draft(&name, "hi", None), now_ms())
            .expect("append");
        h.release(&room(&name));
    }
    assert!(
        h.bytes_in_memory() <= BUDGET,
        "{} bytes",
        h.bytes_in_memory()
    );
    assert!(h.rooms_in_memory() < 20_000);
    // The most recent rooms are still there.
    assert_eq!(h.last_seq(&room("room-19999")).expect("seq"), 1);
}

#[test]
fn a_room_touched_again_is_kept_over_older_ones() {
    let mut h = MemoryHistory::with_budget(keep(10_000), BUDGET);
    fill(&mut h, "first", 100);
    fill(&mut h, "second", 100);
    // Reading "first" makes "second" the least recently used.
    h.page(&room("first"), u64::MAX, 10).expect("page");
    fill(&mut h, "third", 100);
    let first = h.since(&room("first"), 0, u64::MAX).expect("since");
    let second = h.since(&room("second"), 0, u64::MAX).expect("since");
    assert!(first.complete, "first lost {}", 100 - first.messages.len());
    assert!(!second.complete);
}
