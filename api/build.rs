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
    let mut descriptors = protox::compile(PROTOS, ["proto"])?;
    encoded_read_answers(&mut descriptors);
    tonic_build::configure()
        .build_client(false)
        .build_server(true)
        // The protocol's `Empty` carries nothing; the unit type saves a message type per call.
        .extern_path(".event_store.client.Empty", "()")
        // A read builds this map of three entries for every event it sends: a B-tree of one node
        // costs one allocation and no hashing, where a `HashMap` seeds a hasher, hashes every key
        // and allocates its table. The wire bytes are the same map entries.
        .btree_map([".event_store.client.streams.ReadResp.ReadEvent.RecordedEvent.metadata"])
        // `Read` answers messages encoded where they are made (`src/grpc/streams/wire.rs`).
        .extern_path(
            ENCODED_READ_RESP,
            "crate::grpc::streams::wire::EncodedReadResp",
        )
        .compile_fds(descriptors)?;
    Ok(())
}

/// The output type `Streams.Read` is generated with: a `ReadResp` already encoded.
const ENCODED_READ_RESP: &str = ".event_store.client.streams.EncodedReadResp";

/// Declares the message `EncodedReadResp` (its Rust type is hand-written, see `ENCODED_READ_RESP`)
/// and makes it the output of `Streams.Read`, in place of `ReadResp`, whose bytes it carries. Only
/// the generated server's types change: every message on the wire stays as the vendored `.proto`
/// files say.
fn encoded_read_answers(descriptors: &mut prost_types::FileDescriptorSet) {
    for file in &mut descriptors.file {
        if file.package() != "event_store.client.streams" {
            continue;
        }
        file.message_type.push(prost_types::DescriptorProto {
            name: Some("EncodedReadResp".into()),
            ..Default::default()
        });
        for method in file
            .service
            .iter_mut()
            .flat_map(|service| service.method.iter_mut())
            .filter(|method| method.name() == "Read")
        {
            method.output_type = Some(ENCODED_READ_RESP.into());
        }
    }
}
