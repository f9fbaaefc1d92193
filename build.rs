//! Compiles `proto/` into Rust with tonic-prost-build. The proto compiler is protox (pure Rust), so a
//! fresh machine needs no `protoc`. The descriptor set is also written to `OUT_DIR` for gRPC reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/dedup/v1/dedup.proto"];
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let file_descriptors = protox::compile(protos, ["proto"])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("dedup_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&file_descriptors))?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(file_descriptors)?;
    Ok(())
}
