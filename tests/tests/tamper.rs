//! Tamper test: change one byte of a stored event through sled directly; `journey verify` names it.

use journey_tests::{journey, text, uuid, Scratch};

/// Flips one byte (at `offset_of(len)`) of the stored record at `position`.
fn tamper(scratch: &Scratch, position: u64, offset_of: impl Fn(usize) -> usize) {
    let db = sled::open(scratch.data_dir().join("ledger")).expect("open sled directly");
    let tree = db.open_tree("log").expect("log tree");
    let mut key = vec![b'e'];
    key.extend_from_slice(&position.to_be_bytes());
    let mut value = tree
        .get(&key)
        .expect("read")
        .expect("the event is stored")
        .to_vec();
    let offset = offset_of(value.len());
    value[offset] ^= 0x01;
    tree.insert(&key, value).expect("write");
    db.flush().expect("flush");
}

#[test]
fn verify_names_the_position_of_a_changed_byte() {
    // Offsets: inside the record (envelope or payload) and its very last byte (the global hash).
    type OffsetOf = fn(usize) -> usize;
    let offsets: [(&str, OffsetOf); 3] = [
        ("middle", |len| len / 2),
        ("two thirds", |len| len * 2 / 3),
        ("last", |len| len - 1),
    ];
    for (name, offset_of) in offsets {
        let scratch = Scratch::new();
        let mut lines = journey(uuid(1), 100, 6);
        lines.extend(journey(uuid(2), 200, 6));
        let file = scratch.write_ndjson("in.ndjson", &lines);
        assert!(scratch
            .run(&["import", file.to_str().expect("path")])
            .status
            .success());
        let before = scratch.run(&["verify"]);
        assert!(before.status.success(), "{}", text(&before.stdout));

        tamper(&scratch, 7, offset_of);

        let after = scratch.run(&["verify"]);
        let stdout = text(&after.stdout);
        assert!(
            !after.status.success(),
            "{name}: verify must fail after tampering"
        );
        assert!(
            stdout.contains("BROKEN at position 7"),
            "{name}: names the position: {stdout}"
        );
        assert!(
            stdout.contains("7 events before it are intact"),
            "{name}: {stdout}"
        );
    }
}
