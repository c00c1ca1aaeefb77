//! Generates the gRPC server stubs of the EventStoreDB/KurrentDB client protocol from the vendored
//! `.proto` files (see `proto/README.md`). `protox` compiles them in Rust, so a build needs no
//! system `protoc`.

const PROTOS: &[&str] = &[
    "proto/shared.proto",
    "proto/code.proto",
    "proto/status.proto",
    "proto/streams.proto",
    "proto/serverfeatures.proto",
    "proto/gossip.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    tonic_build::configure()
        .build_client(false)
        .build_server(true)
        // The protocol's `Empty` carries nothing; the unit type saves a message type per call.
        .extern_path(".event_store.client.Empty", "()")
        // A read builds this map of three entries for every event it sends: a B-tree of one node
        // costs one allocation and no hashing, where a `HashMap` seeds a hasher, hashes every key
        // and allocates its table. The wire bytes are the same map entries.
        .btree_map([".event_store.client.streams.ReadResp.ReadEvent.RecordedEvent.metadata"])
        .compile_fds(descriptors)?;
    Ok(())
}
