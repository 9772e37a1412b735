//! All integration tests, in one binary to keep build times down.

mod conformance;
mod detection;
mod golden;
mod properties;
mod provenance;
mod selfhash;
mod tails;
mod vllm;
mod window;

/// Reads a file under `tests/data/`.
pub fn data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
