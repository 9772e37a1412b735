//! Token ids and logits from Python objects.
//!
//! Token ids come as any object with the buffer protocol holding integers (numpy and
//! `array.array` of any integer width, strided views included) or as a sequence of Python ints
//! (a list, a tuple, a `range`). Logits come as a writable buffer of float32 (a numpy `float32`
//! array, a CPU torch tensor's `.numpy()` view, `array.array('f')`), used in place without a
//! copy: C-contiguous, or for one row also strided (a record array's column). Every check raises an `InvalidInputError` or `TokenOutOfRangeError`
//! naming what was wrong; nothing here panics on any input.

use crate::errors::{invalid, raise};
use pyo3::buffer::{ElementType, PyUntypedBuffer};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

/// The most context tokens any scheme reads (the PRF takes at most 8).
pub(crate) const MAX_CONTEXT: usize = provmark::scheme::vllm::MAX_VLLM_CONTEXT;

/// The last (at most [`MAX_CONTEXT`]) ids of a sequence, held without allocating.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tail {
    ids: [u32; MAX_CONTEXT],
    len: usize,
}

impl Default for Tail {
    fn default() -> Self {
        Tail {
            ids: [0; MAX_CONTEXT],
            len: 0,
        }
    }
}

impl Tail {
    /// The ids, oldest first.
    pub(crate) fn as_slice(&self) -> &[u32] {
        self.ids.get(..self.len).unwrap_or_default()
    }

    /// Left-pads with `pad` to `width` ids (no-op when already that long).
    pub(crate) fn pad_front(&mut self, width: usize, pad: u32) {
        let width = width.min(MAX_CONTEXT);
        if self.len >= width {
            return;
        }
        let shift = width - self.len;
        self.ids.copy_within(..self.len, shift);
        if let Some(front) = self.ids.get_mut(..shift) {
            front.fill(pad);
        }
        self.len = width;
    }
}

/// An integer buffer: its element kind, and the shape and strides it is read through.
struct IntBuffer {
    buf: PyUntypedBuffer,
    signed: bool,
    bytes: usize,
}

fn reject_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
    {
        return Err(invalid(format!(
            "{what} must be token ids (a sequence or integer array), not str or bytes"
        )));
    }
    Ok(())
}

/// The object's buffer if it exports one of integers; `None` if it has no buffer.
fn int_buffer(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<IntBuffer>> {
    let Ok(buf) = PyUntypedBuffer::get(obj) else {
        return Ok(None);
    };
    let (signed, bytes) = match ElementType::from_format(buf.format()) {
        ElementType::SignedInteger { bytes } => (true, bytes),
        ElementType::UnsignedInteger { bytes } => (false, bytes),
        _ => {
            return Err(invalid(format!(
                "{what} must hold integers; the buffer has format {:?}",
                buf.format().to_string_lossy()
            )));
        }
    };
    let f = buf.format().to_bytes();
    if matches!(f.first(), Some(b'>' | b'!')) || !matches!(bytes, 1 | 2 | 4 | 8) {
        return Err(invalid(format!(
            "{what}: unsupported integer layout {:?} (use native byte order)",
            buf.format().to_string_lossy()
        )));
    }
    if buf.suboffsets().is_some() {
        return Err(invalid(format!(
            "{what}: indirect buffers are not supported"
        )));
    }
    Ok(Some(IntBuffer { buf, signed, bytes }))
}

impl IntBuffer {
    /// The element at byte offset `off` from the start, as a token id.
    fn read(&self, off: isize, position: usize) -> PyResult<u32> {
        let p = self.buf.buf_ptr().cast::<u8>().wrapping_offset(off);
        // SAFETY: the offset was computed from the buffer's own shape and strides with indices
        // inside the shape, so it addresses an element of the exporter's memory, which stays
        // alive while `self.buf` is held. Reads are unaligned-safe.
        let v: i128 = unsafe {
            match (self.signed, self.bytes) {
                (true, 1) => p.cast::<i8>().read_unaligned().into(),
                (true, 2) => p.cast::<i16>().read_unaligned().into(),
                (true, 4) => p.cast::<i32>().read_unaligned().into(),
                (true, _) => p.cast::<i64>().read_unaligned().into(),
                (false, 1) => p.read_unaligned().into(),
                (false, 2) => p.cast::<u16>().read_unaligned().into(),
                (false, 4) => p.cast::<u32>().read_unaligned().into(),
                (false, _) => p.cast::<u64>().read_unaligned().into(),
            }
        };
        to_id(v, position)
    }

    fn dims(&self) -> (&[usize], &[isize]) {
        (self.buf.shape(), self.buf.strides())
    }
}

fn to_id(v: i128, position: usize) -> PyResult<u32> {
    u32::try_from(v).map_err(|_| {
        raise(
            "TokenOutOfRangeError",
            format!("token id {v} at position {position} is not a valid id (0 to 4294967295)"),
        )
    })
}

fn seq_item(obj: &Bound<'_, PyAny>, i: usize) -> PyResult<u32> {
    let item = obj.get_item(i)?;
    let v: i128 = item.extract().map_err(|_| {
        invalid(format!(
            "token id at position {i} is not an integer (got {})",
            item.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    to_id(v, i)
}

/// A one-dimensional source of ids: an integer buffer read through its stride, or a sequence.
enum IdSource<'a, 'py> {
    Buffer { b: IntBuffer, stride: isize },
    Sequence(&'a Bound<'py, PyAny>),
}

impl<'a, 'py> IdSource<'a, 'py> {
    /// The source behind `obj` and its length.
    fn new(obj: &'a Bound<'py, PyAny>, what: &str) -> PyResult<(Self, usize)> {
        reject_text(obj, what)?;
        if let Some(b) = int_buffer(obj, what)? {
            let (&[n], &[stride]) = b.dims() else {
                return Err(invalid(format!(
                    "{what} must be one-dimensional (got {} dimensions)",
                    b.dims().0.len()
                )));
            };
            return Ok((IdSource::Buffer { b, stride }, n));
        }
        let n = obj
            .len()
            .map_err(|_| invalid(format!("{what} must be a sequence or array of token ids")))?;
        Ok((IdSource::Sequence(obj), n))
    }

    /// The id at index `i` (below the length).
    fn get(&self, i: usize) -> PyResult<u32> {
        match self {
            IdSource::Buffer { b, stride } => b.read(i as isize * stride, i),
            IdSource::Sequence(obj) => seq_item(obj, i),
        }
    }
}

/// All ids of a one-dimensional sequence or integer buffer.
pub(crate) fn read_ids(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u32>> {
    let (src, n) = IdSource::new(obj, what)?;
    (0..n).map(|i| src.get(i)).collect()
}

/// The last `h` ids of a sequence or integer buffer (fewer if it is shorter). Reads only those.
pub(crate) fn tail(obj: &Bound<'_, PyAny>, h: usize, what: &str) -> PyResult<Tail> {
    let (src, n) = IdSource::new(obj, what)?;
    let start = n.saturating_sub(h.min(MAX_CONTEXT));
    let mut t = Tail {
        len: n - start,
        ..Tail::default()
    };
    for (slot, i) in t.ids.iter_mut().zip(start..n) {
        *slot = src.get(i)?;
    }
    Ok(t)
}

/// Per-row tails of a batch of contexts: a two-dimensional integer buffer `(B, L)` or a
/// sequence of `B` sequences. Calls `f(row, tail)` for each row in order.
pub(crate) fn for_each_row_tail(
    obj: &Bound<'_, PyAny>,
    h: usize,
    mut f: impl FnMut(usize, Tail) -> PyResult<()>,
) -> PyResult<usize> {
    reject_text(obj, "contexts")?;
    let h = h.min(MAX_CONTEXT);
    if let Some(b) = int_buffer(obj, "contexts")? {
        let (shape, strides) = b.dims();
        let (&[rows, n], &[s0, s1]) = (shape, strides) else {
            return Err(invalid(format!(
                "contexts must be two-dimensional (batch, length); got {} dimensions",
                shape.len()
            )));
        };
        let start = n.saturating_sub(h);
        for r in 0..rows {
            let mut t = Tail {
                len: n - start,
                ..Tail::default()
            };
            for (slot, i) in t.ids.iter_mut().zip(start..n) {
                *slot = b.read(r as isize * s0 + i as isize * s1, i)?;
            }
            f(r, t)?;
        }
        return Ok(rows);
    }
    let rows = obj
        .len()
        .map_err(|_| invalid("contexts must be a sequence of token-id sequences"))?;
    for r in 0..rows {
        f(r, tail(&obj.get_item(r)?, h, "each context")?)?;
    }
    Ok(rows)
}

fn acquire(obj: &Bound<'_, PyAny>) -> PyResult<PyUntypedBuffer> {
    PyUntypedBuffer::get(obj).map_err(|_| {
        invalid("logits must support the buffer protocol (a numpy float32 array, a CPU torch tensor's .numpy(), array.array('f'))")
    })
}

/// One step's logits: contiguous, or a strided column. The buffer is acquired once.
pub(crate) enum Row {
    /// C-contiguous float32.
    Contiguous(Logits),
    /// One-dimensional float32 with a stride.
    Strided(StridedLogits),
}

impl Row {
    /// Checks `obj` as one row of logits (see [`Logits::get`] and [`StridedLogits`]).
    pub(crate) fn get(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        match StridedLogits::from_buffer(acquire(obj)?) {
            Ok(strided) => Ok(Row::Strided(strided)),
            Err(buf) => Logits::from_buffer(buf, 1).map(Row::Contiguous),
        }
    }
}

/// A writable, C-contiguous float32 buffer, borrowed for in-place work.
pub(crate) struct Logits {
    buf: PyUntypedBuffer,
}

/// A writable one-dimensional float32 buffer with any stride: a column of a record array, as
/// llama-cpp-python hands its processors (`llama_token_data.logit`, 12 bytes apart).
pub(crate) struct StridedLogits {
    buf: PyUntypedBuffer,
    len: usize,
    stride: isize,
}

impl StridedLogits {
    /// `Ok` when `buf` is a writable, one-dimensional, non-contiguous float32 buffer; the
    /// buffer back otherwise.
    fn from_buffer(buf: PyUntypedBuffer) -> Result<Self, PyUntypedBuffer> {
        let ok = ElementType::from_format(buf.format()) == (ElementType::Float { bytes: 4 })
            && !matches!(buf.format().to_bytes().first(), Some(b'>' | b'!'))
            && !buf.readonly()
            && buf.suboffsets().is_none()
            && buf.dimensions() == 1
            && !buf.is_c_contiguous();
        match (ok, buf.shape(), buf.strides()) {
            (true, &[len], &[stride]) => Ok(StridedLogits { buf, len, stride }),
            _ => Err(buf),
        }
    }

    /// The number of logits.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn ptr(&self, i: usize) -> *mut f32 {
        self.buf
            .buf_ptr()
            .cast::<u8>()
            .wrapping_offset(i as isize * self.stride)
            .cast::<f32>()
    }

    /// Index of the first NaN or +∞.
    pub(crate) fn first_non_finite(&self) -> Option<usize> {
        (0..self.len).find(|&i| {
            // SAFETY: `i < len`, so the offset addresses an element inside the exporter's
            // memory, alive while `self.buf` is held; unaligned reads are allowed.
            bad_bits(unsafe { self.ptr(i).read_unaligned() }.to_bits())
        })
    }

    /// Adds `adds[i]` to logit `i` (an add of -0.0 leaves a logit's bits unchanged).
    pub(crate) fn add(&mut self, adds: &[f32]) {
        for (i, &a) in adds.iter().enumerate().take(self.len) {
            let p = self.ptr(i);
            // SAFETY: as in `first_non_finite`; the buffer is writable (checked in `get`).
            unsafe { p.write_unaligned(p.read_unaligned() + a) };
        }
    }
}

impl Logits {
    /// Checks that `obj` exports writable, C-contiguous float32 memory of `ndim` dimensions.
    pub(crate) fn get(obj: &Bound<'_, PyAny>, ndim: usize) -> PyResult<Self> {
        Self::from_buffer(acquire(obj)?, ndim)
    }

    fn from_buffer(buf: PyUntypedBuffer, ndim: usize) -> PyResult<Self> {
        if ElementType::from_format(buf.format()) != (ElementType::Float { bytes: 4 })
            || matches!(buf.format().to_bytes().first(), Some(b'>' | b'!'))
        {
            return Err(invalid(format!(
                "logits must be float32; the buffer has format {:?}",
                buf.format().to_string_lossy()
            )));
        }
        if buf.readonly() {
            return Err(invalid("logits are read-only; biasing works in place"));
        }
        if buf.dimensions() != ndim {
            return Err(invalid(format!(
                "logits must have {ndim} dimension(s); got {}",
                buf.dimensions()
            )));
        }
        if buf.suboffsets().is_some() {
            return Err(invalid("logits: indirect buffers are not supported"));
        }
        if !buf.is_c_contiguous() || buf.buf_ptr().align_offset(4) != 0 {
            return Err(invalid(
                "logits must be C-contiguous and aligned (copy with numpy.ascontiguousarray)",
            ));
        }
        Ok(Logits { buf })
    }

    /// The shape.
    pub(crate) fn shape(&self) -> &[usize] {
        self.buf.shape()
    }

    /// The memory as a mutable slice.
    ///
    /// # Safety
    /// No other code may access the exporter's memory while the slice lives. Python code cannot
    /// run during the calls of this module that hold it (they keep the GIL or run only Rust
    /// code); another native thread writing the same array concurrently would be a data race,
    /// as for any in-place numpy operation that releases the GIL.
    pub(crate) unsafe fn as_mut_slice(&mut self) -> &mut [f32] {
        let n = self.buf.item_count();
        // SAFETY: float32, C-contiguous, aligned and writable were checked in `get`; the
        // memory stays alive while `self.buf` is held; exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.buf.buf_ptr().cast::<f32>(), n) }
    }
}

/// Whether a logit's bits are NaN or +∞ (−∞ is a masked token and allowed). Integer compares
/// only, which vectorise with the baseline x86-64 instruction set.
#[inline(always)]
fn bad_bits(b: u32) -> bool {
    let magnitude = (b & 0x7fff_ffff) as i32;
    (magnitude > 0x7f80_0000) | (b == 0x7f80_0000)
}

/// Index of the first NaN or +∞ (−∞ is a masked token and allowed).
pub(crate) fn first_non_finite(logits: &[f32]) -> Option<usize> {
    // A branch-free scan in blocks; the exact index is found only on failure.
    const BLOCK: usize = 256;
    let bad = |l: &f32| bad_bits(l.to_bits());
    let mut start = 0;
    for c in logits.chunks(BLOCK) {
        if c.iter().fold(0u32, |acc, l| acc | u32::from(bad(l))) != 0 {
            return c.iter().position(bad).map(|i| start + i);
        }
        start += c.len();
    }
    None
}
