//! Emission ledgers: compact, keyed fingerprints of the contexts under which a server emitted
//! watermarked tokens.
//!
//! An audit restricted to contexts in the ledger scores only tuples whose context we actually
//! served, which sharpens the radioactivity test (Sander et al. 2024). The ledger stores no text
//! and no key: each entry is the first 8 bytes of
//! `HMAC(derive(secret, "ledger"), "provmark/ledger/v1" || u8(h) || le32(c_1) || … )`, so whoever
//! holds the file without the key cannot tell which contexts were served.
//!
//! File layout: the 8 bytes `PMLEDGR1`, a u16 length and the key id, one byte `h`, then 8-byte
//! little-endian fingerprints, appended as the server runs.
//!
//! ```
//! use provmark::{key::SecretKey, provenance::ledger::{Ledger, LedgerWriter}};
//! let dir = std::env::temp_dir().join(format!("provmark-ledger-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("served.ledger");
//! # let _ = std::fs::remove_file(&path);
//! let key = SecretKey::from_bytes([1; 32]);
//! let mut w = LedgerWriter::open(&path, &key, 2)?;
//! w.record(&[10, 11])?;
//! w.flush()?;
//! let ledger = Ledger::load(&path)?;
//! assert!(ledger.contains(&ledger.fingerprinter(&key)?, &[10, 11]));
//! assert!(!ledger.contains(&ledger.fingerprinter(&key)?, &[11, 10]));
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::fingerprint::FingerprintSet;
use crate::key::{HmacSha256, KeyId, SecretKey};
use crate::{Error, Result};
use hmac::Mac;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PMLEDGR1";
const TAG: &[u8] = b"provmark/ledger/v1";

/// Computes keyed context fingerprints.
#[derive(Clone)]
pub struct Fingerprinter {
    mac: HmacSha256,
    h: usize,
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprinter(h = {}, key redacted)", self.h)
    }
}

impl Fingerprinter {
    /// A fingerprinter for contexts of width `h` under `key`.
    pub fn new(key: &SecretKey, h: usize) -> Self {
        Fingerprinter {
            mac: key.derive("ledger").mac(),
            h,
        }
    }

    /// The fingerprint of the last `h` tokens of `history` (`None` when shorter than `h`).
    pub fn fingerprint(&self, history: &[u32]) -> Option<u64> {
        let ctx = history.get(history.len().checked_sub(self.h)?..)?;
        let mut m = self.mac.clone();
        m.update(TAG);
        m.update(&[self.h as u8]);
        for t in ctx {
            m.update(&t.to_le_bytes());
        }
        let out = m.finalize().into_bytes();
        let mut b = [0u8; 8];
        b.copy_from_slice(out.get(..8)?);
        Some(u64::from_le_bytes(b))
    }
}

/// Appends fingerprints to a ledger file (created with its header when new).
pub struct LedgerWriter {
    out: BufWriter<std::fs::File>,
    fp: Fingerprinter,
    path: PathBuf,
}

impl std::fmt::Debug for LedgerWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LedgerWriter({})", self.path.display())
    }
}

impl LedgerWriter {
    /// Opens `path` for appending, writing the header if the file is new. An existing ledger
    /// must belong to the same key and context width.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidInput`] when the existing file is another key's ledger.
    pub fn open(path: &Path, key: &SecretKey, h: usize) -> Result<Self> {
        let exists = path.exists();
        if exists {
            let l = Ledger::load(path)?;
            if l.key_id != key.key_id() || l.h != h {
                return Err(Error::InvalidInput(format!(
                    "{} is the ledger of key {} (h = {}), not of key {} (h = {h})",
                    path.display(),
                    l.key_id,
                    l.h,
                    key.key_id()
                )));
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::new(file);
        if !exists {
            let id = key.key_id();
            let mut header = MAGIC.to_vec();
            header.extend_from_slice(&(id.as_str().len() as u16).to_le_bytes());
            header.extend_from_slice(id.as_str().as_bytes());
            header.push(h as u8);
            out.write_all(&header).map_err(|e| Error::io(path, e))?;
        }
        Ok(LedgerWriter {
            out,
            fp: Fingerprinter::new(key, h),
            path: path.to_path_buf(),
        })
    }

    /// Records the context of a step (the last `h` tokens of `history`); a step without a
    /// full context is not recorded.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn record(&mut self, history: &[u32]) -> Result<()> {
        if let Some(f) = self.fp.fingerprint(history) {
            self.out
                .write_all(&f.to_le_bytes())
                .map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Flushes buffered entries to the file.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// A loaded ledger: the set of fingerprints.
#[derive(Clone, Debug)]
pub struct Ledger {
    /// Key the fingerprints were made with.
    pub key_id: KeyId,
    /// Context width.
    pub h: usize,
    set: FingerprintSet,
}

impl Ledger {
    /// An empty in-memory ledger for `key` and context width `h` (fill it with
    /// [`Ledger::record`]).
    pub fn new(key: &SecretKey, h: usize) -> Self {
        Ledger {
            key_id: key.key_id(),
            h,
            set: Default::default(),
        }
    }

    /// Records the context ending `history` (nothing when it is shorter than `h`).
    pub fn record(&mut self, fp: &Fingerprinter, history: &[u32]) {
        if let Some(f) = fp.fingerprint(history) {
            self.set.insert(f);
        }
    }

    /// Reads a ledger file. A trailing partial entry (a crash mid-write) is ignored.
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::InvalidInput`] when the file is not a ledger.
    pub fn load(path: &Path) -> Result<Self> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
        let bad = || Error::InvalidInput(format!("{}: not a provmark ledger", path.display()));
        if bytes.get(..8) != Some(MAGIC) {
            return Err(bad());
        }
        let n = bytes
            .get(8..10)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(bad)?;
        let id = bytes
            .get(10..10 + n)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(bad)?;
        let key_id: KeyId =
            serde_json::from_value(serde_json::Value::String(id.to_string())).map_err(|_| bad())?;
        let h = usize::from(*bytes.get(10 + n).ok_or_else(bad)?);
        if h > crate::prf::MAX_CONTEXT {
            return Err(bad());
        }
        let body = bytes.get(11 + n..).unwrap_or_default();
        let set = body
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        Ok(Ledger { key_id, h, set })
    }

    /// Number of distinct fingerprints.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the ledger is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The fingerprinter matching this ledger, given the key it was made with.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `key` is not the ledger's key.
    pub fn fingerprinter(&self, key: &SecretKey) -> Result<Fingerprinter> {
        if key.key_id() != self.key_id {
            return Err(Error::InvalidInput(format!(
                "the ledger belongs to key {}, not {}",
                self.key_id,
                key.key_id()
            )));
        }
        Ok(Fingerprinter::new(key, self.h))
    }

    /// Whether the context ending `history` is in the ledger.
    pub fn contains(&self, fp: &Fingerprinter, history: &[u32]) -> bool {
        fp.fingerprint(history)
            .is_some_and(|f| self.set.contains(&f))
    }
}
