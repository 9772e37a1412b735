//! `provmark._provmark`: the Rust half of the `provmark` Python package.
//!
//! A thin layer over the core crate: every call checks its Python inputs, converts them without
//! copying where it can (the buffer protocol for logits and token ids), releases the GIL for
//! work that scales with the input, and turns every [`provmark::Error`] into an exception of the
//! `provmark.Error` hierarchy (defined in `provmark/_errors.py`, so that its classes can also
//! derive from `ValueError`, `OSError` and `FileExistsError`). The ecosystem adapters (Hugging
//! Face, llama-cpp-python, vLLM) are Python code in `python/provmark/` calling this module.
//!
//! * [`errors`]: mapping Rust errors to Python exceptions.
//! * [`ids`]: token ids and logits from Python objects (buffers and sequences).
//! * [`keys`]: `Key` and `MasterKey` (key files, generation, derivation, biasing).
//! * [`detection`]: `detect`, `detect_rotation`, `Detection` and `Audit`.

mod detection;
mod errors;
mod ids;
mod keys;

use pyo3::prelude::*;

/// The module object. Its classes are re-exported by `provmark/__init__.py`.
#[pymodule]
fn _provmark(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<keys::Key>()?;
    m.add_class::<keys::MasterKey>()?;
    m.add_class::<keys::KeyedSampler>()?;
    m.add_class::<detection::Detection>()?;
    m.add_class::<detection::Audit>()?;
    m.add_function(wrap_pyfunction!(detection::detect, m)?)?;
    m.add_function(wrap_pyfunction!(detection::detect_rotation, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_VOCAB", provmark::prf::MAX_VOCAB)?;
    Ok(())
}
