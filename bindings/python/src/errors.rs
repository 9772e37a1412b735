//! Rust errors as Python exceptions: each [`provmark::Error`] variant has a class in
//! `provmark._errors`, all deriving from `provmark.Error`. Messages are the Rust error's own
//! (never key material).

use provmark::Error;
use pyo3::prelude::*;
use pyo3::types::PyType;

/// The `provmark._errors` class name for a core error.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidParameter { .. } => "InvalidParameterError",
        Error::TokenOutOfRange { .. } => "TokenOutOfRangeError",
        Error::NonFiniteLogit { .. } => "NonFiniteLogitError",
        Error::NoCandidates => "NoCandidatesError",
        Error::LogitsShape { .. } => "LogitsShapeError",
        Error::KeyFormat(_) | Error::KeyTampered { .. } => "KeyFormatError",
        Error::WouldOverwrite(_) => "WouldOverwriteError",
        Error::ModelFormat(_) => "ModelFormatError",
        Error::InvalidInput(_) => "InvalidInputError",
        Error::Engine(_) => "EngineError",
        Error::Tokenizer(_) => "TokenizerError",
        Error::Numerical(_) => "NumericalError",
        Error::Io { .. } => "IoError",
        _ => "Error",
    }
}

/// An exception of class `name` from `provmark._errors` with `message`. Falls back to
/// `RuntimeError` if that module cannot be imported (the extension used outside its package).
pub(crate) fn raise(name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let class = py
            .import("provmark._errors")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => PyErr::from_type(class, message),
            Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
        }
    })
}

/// The Python exception for a core error.
pub(crate) fn to_py(e: Error) -> PyErr {
    raise(class_name(&e), e.to_string())
}

/// `provmark.InvalidInputError(message)`: a Python value of the wrong type, dtype or shape.
pub(crate) fn invalid(message: impl Into<String>) -> PyErr {
    raise("InvalidInputError", message)
}

/// Extension for `provmark::Result`: `.py()?` raises the mapped exception.
pub(crate) trait IntoPy<T> {
    /// Converts the error side into a Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for provmark::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
