//! `audit --export-parquet` and `audit --merge`: an audit's distinct scored tuples as Parquet
//! files that a query engine (DuckDB, Spark SQL) counts by exact DISTINCT, and the merge of
//! several shards' exports back into one exact audit.
//!
//! Layout of an export directory (one shard):
//!
//! * `bucket=X/part-SHARD.parquet` for `X` the fingerprint's top 4 bits in hex: one row per
//!   distinct scored tuple, `fp` (INT64) then, per key, `g_<key id>` (BOOLEAN, green) or
//!   `s_<key id>` (DOUBLE, score) and, per coded master, `pos_<id>` (INT32, 0..64) and
//!   `cls_<id>` (INT32, 16 class bits). Key ids are written with `-` and `+` as `_`.
//! * `codewords-<master id>.parquet`: `account` (UTF8), `position`, `symbol` (INT32), 64 rows
//!   per account: what the SQL joins to score every account.
//! * `manifest-SHARD.json`: the columns, context width, tuple count and the fingerprint
//!   key's id (shards merge only under the same one).

use super::CliResult;
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::RowAccessor;
use parquet::schema::parser::parse_message_type;
use provmark::provenance::audit::{ExportColumn, ExportData, ExportTable};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `format` of export manifests.
const MANIFEST_FORMAT: &str = "provmark-audit-export";
/// Buckets by the fingerprint's top bits.
const BUCKET_BITS: u32 = 4;

/// A coded master's key id and every audited account's 64 codeword symbols.
pub type MasterCodewords = (String, Vec<(String, [u8; 64])>);

/// One column of the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestColumn {
    /// Key id of the key or coded master.
    pub key_id: String,
    /// `green`, `score` or `coded`.
    pub kind: String,
    /// Parquet column names.
    pub parquet: Vec<String>,
    /// The null green probability γ (green and coded columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
}

/// A shard's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    format: String,
    version: u32,
    /// Shard name.
    pub shard: String,
    /// Key id of the subkey the fingerprints are keyed with.
    pub fingerprint_key_id: String,
    /// Context width.
    pub context: usize,
    /// Distinct tuples in this shard.
    pub tuples: u64,
    /// Documents and tokens read by this shard.
    pub documents: u64,
    /// Tokens read.
    pub tokens: u64,
    /// Columns after `fp`.
    pub columns: Vec<ManifestColumn>,
}

fn sql_name(id: &str) -> String {
    id.replace(['-', '+'], "_")
}

fn kind(c: &ExportColumn) -> &'static str {
    match c.data {
        ExportData::Green(_) => "green",
        ExportData::Score(_) => "score",
        ExportData::Coded { .. } => "coded",
    }
}

fn parquet_names(c: &ExportColumn) -> Vec<String> {
    let id = sql_name(&c.name);
    match c.data {
        ExportData::Green(_) => vec![format!("g_{id}")],
        ExportData::Score(_) => vec![format!("s_{id}")],
        ExportData::Coded { .. } => vec![format!("pos_{id}"), format!("cls_{id}")],
    }
}

fn perr(path: &Path, e: impl std::fmt::Display) -> provmark::Error {
    provmark::Error::InvalidInput(format!("{}: parquet: {e}", path.display()))
}

/// Shard names become file names: letters, digits, `-` and `_` only.
pub fn check_shard(shard: &str) -> CliResult<()> {
    if shard.is_empty()
        || !shard
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            provmark::Error::param("shard", "use letters, digits, '-' and '_' only").into(),
        );
    }
    Ok(())
}

/// Writes one shard's export into `dir` (created if needed; never overwrites a file).
#[allow(clippy::too_many_arguments)]
pub fn write(
    dir: &Path,
    shard: &str,
    table: &ExportTable,
    gammas: &[Option<f64>],
    fingerprint_key_id: &str,
    documents: u64,
    tokens: u64,
    codewords: &[MasterCodewords],
) -> CliResult<Manifest> {
    check_shard(shard)?;
    std::fs::create_dir_all(dir).map_err(|e| provmark::Error::io(dir, e))?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        version: 1,
        shard: shard.into(),
        fingerprint_key_id: fingerprint_key_id.into(),
        context: table.h,
        tuples: table.fingerprints.len() as u64,
        documents,
        tokens,
        columns: table
            .columns
            .iter()
            .zip(gammas.iter().chain(std::iter::repeat(&None)))
            .map(|(c, g)| ManifestColumn {
                key_id: c.name.clone(),
                kind: kind(c).into(),
                parquet: parquet_names(c),
                gamma: *g,
            })
            .collect(),
    };
    let mpath = dir.join(format!("manifest-{shard}.json"));
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    super::write_new(&mpath, text.as_bytes(), false)?;
    // Rows by bucket.
    let mut buckets: Vec<Vec<usize>> = vec![Vec::new(); 1 << BUCKET_BITS];
    for (i, fp) in table.fingerprints.iter().enumerate() {
        if let Some(b) = buckets.get_mut((fp >> (64 - BUCKET_BITS)) as usize) {
            b.push(i);
        }
    }
    let mut fields = vec!["required int64 fp;".to_string()];
    for c in &table.columns {
        for (n, ty) in parquet_names(c).iter().zip(match c.data {
            ExportData::Green(_) => vec!["boolean"],
            ExportData::Score(_) => vec!["double"],
            ExportData::Coded { .. } => vec!["int32", "int32"],
        }) {
            fields.push(format!("required {ty} {n};"));
        }
    }
    let schema = format!("message tuples {{ {} }}", fields.join(" "));
    for (b, rows) in buckets.iter().enumerate() {
        if rows.is_empty() {
            continue;
        }
        let sub = dir.join(format!("bucket={b:x}"));
        std::fs::create_dir_all(&sub).map_err(|e| provmark::Error::io(&sub, e))?;
        let path = sub.join(format!("part-{shard}.parquet"));
        write_rows(&path, &schema, table, rows)?;
    }
    for (master, rows) in codewords {
        let path = dir.join(format!("codewords-{}.parquet", sql_name(master)));
        if path.exists() {
            continue; // identical for every shard of the same master and accounts
        }
        write_codewords(&path, rows)?;
    }
    Ok(manifest)
}

fn new_file(path: &Path) -> CliResult<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                provmark::Error::WouldOverwrite(path.to_path_buf()).into()
            } else {
                provmark::Error::io(path, e).into()
            }
        })
}

fn props() -> Arc<WriterProperties> {
    Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    )
}

fn write_rows(path: &Path, schema: &str, table: &ExportTable, rows: &[usize]) -> CliResult<()> {
    let schema = Arc::new(parse_message_type(schema).map_err(|e| perr(path, e))?);
    let file = new_file(path)?;
    let mut w = SerializedFileWriter::new(file, schema, props()).map_err(|e| perr(path, e))?;
    let mut rg = w.next_row_group().map_err(|e| perr(path, e))?;
    // Column values in schema order: fp, then each target's columns.
    let fps: Vec<i64> = rows
        .iter()
        .map(|&i| table.fingerprints.get(i).copied().unwrap_or(0) as i64)
        .collect();
    enum Values {
        I64(Vec<i64>),
        I32(Vec<i32>),
        Bool(Vec<bool>),
        F64(Vec<f64>),
    }
    let mut cols = vec![Values::I64(fps)];
    for c in &table.columns {
        match &c.data {
            ExportData::Green(v) => cols.push(Values::Bool(
                rows.iter()
                    .map(|&i| v.get(i).copied().unwrap_or(false))
                    .collect(),
            )),
            ExportData::Score(v) => cols.push(Values::F64(
                rows.iter()
                    .map(|&i| v.get(i).copied().unwrap_or(0.0))
                    .collect(),
            )),
            ExportData::Coded { positions, classes } => {
                cols.push(Values::I32(
                    rows.iter()
                        .map(|&i| i32::from(positions.get(i).copied().unwrap_or(0)))
                        .collect(),
                ));
                cols.push(Values::I32(
                    rows.iter()
                        .map(|&i| i32::from(classes.get(i).copied().unwrap_or(0)))
                        .collect(),
                ));
            }
        }
    }
    let mut cols = cols.into_iter();
    while let Some(mut col) = rg.next_column().map_err(|e| perr(path, e))? {
        let r = match cols.next() {
            Some(Values::I64(v)) => col.typed::<Int64Type>().write_batch(&v, None, None),
            Some(Values::I32(v)) => col.typed::<Int32Type>().write_batch(&v, None, None),
            Some(Values::Bool(v)) => col.typed::<BoolType>().write_batch(&v, None, None),
            Some(Values::F64(v)) => col.typed::<DoubleType>().write_batch(&v, None, None),
            None => Ok(0),
        };
        r.map_err(|e| perr(path, e))?;
        col.close().map_err(|e| perr(path, e))?;
    }
    rg.close().map_err(|e| perr(path, e))?;
    w.close().map_err(|e| perr(path, e))?;
    Ok(())
}

fn write_codewords(path: &Path, rows: &[(String, [u8; 64])]) -> CliResult<()> {
    let schema = Arc::new(
        parse_message_type(
            "message codewords { required binary account (UTF8); required int32 position; required int32 symbol; }",
        )
        .map_err(|e| perr(path, e))?,
    );
    let file = new_file(path)?;
    let mut w = SerializedFileWriter::new(file, schema, props()).map_err(|e| perr(path, e))?;
    let mut rg = w.next_row_group().map_err(|e| perr(path, e))?;
    let mut names = Vec::with_capacity(rows.len() * 64);
    let mut pos = Vec::with_capacity(rows.len() * 64);
    let mut sym = Vec::with_capacity(rows.len() * 64);
    for (a, cw) in rows {
        for (j, &s) in cw.iter().enumerate() {
            names.push(ByteArray::from(a.as_str()));
            pos.push(j as i32);
            sym.push(i32::from(s));
        }
    }
    let mut i = 0;
    while let Some(mut col) = rg.next_column().map_err(|e| perr(path, e))? {
        let r = match i {
            0 => col.typed::<ByteArrayType>().write_batch(&names, None, None),
            1 => col.typed::<Int32Type>().write_batch(&pos, None, None),
            _ => col.typed::<Int32Type>().write_batch(&sym, None, None),
        };
        r.map_err(|e| perr(path, e))?;
        col.close().map_err(|e| perr(path, e))?;
        i += 1;
    }
    rg.close().map_err(|e| perr(path, e))?;
    w.close().map_err(|e| perr(path, e))?;
    Ok(())
}

/// What merging several shards' exports found.
pub struct Merged {
    /// The exact DISTINCT union.
    pub table: ExportTable,
    /// The manifests read.
    pub manifests: Vec<Manifest>,
    /// Rows read in all (duplicates across shards included).
    pub rows_read: u64,
}

/// Reads every shard under `dirs`, checks the shards against each other (same fingerprint
/// key, context width and columns; a tuple present in several shards carries the same values
/// in each) and returns their exact DISTINCT union.
pub fn merge(dirs: &[PathBuf]) -> CliResult<Merged> {
    let mut manifests: Vec<Manifest> = Vec::new();
    let mut parts: Vec<PathBuf> = Vec::new();
    for d in dirs {
        let rd = std::fs::read_dir(d).map_err(|e| provmark::Error::io(d, e))?;
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("manifest-") && name.ends_with(".json") {
                let text = std::fs::read_to_string(&p).map_err(|e| provmark::Error::io(&p, e))?;
                let m: Manifest = serde_json::from_str(&text)
                    .map_err(|e| provmark::Error::InvalidInput(format!("{}: {e}", p.display())))?;
                if m.format != MANIFEST_FORMAT || m.version != 1 {
                    return Err(provmark::Error::InvalidInput(format!(
                        "{}: not a {MANIFEST_FORMAT} version 1 manifest",
                        p.display()
                    ))
                    .into());
                }
                manifests.push(m);
            } else if name.starts_with("bucket=") && p.is_dir() {
                let rd = std::fs::read_dir(&p).map_err(|e| provmark::Error::io(&p, e))?;
                let mut files: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "parquet"))
                    .collect();
                files.sort();
                parts.extend(files);
            }
        }
    }
    let Some(first) = manifests.first().cloned() else {
        return Err(provmark::Error::InvalidInput(
            "no export manifest (manifest-*.json) in the given directories".into(),
        )
        .into());
    };
    let mut shards = std::collections::HashSet::new();
    for m in &manifests {
        if !shards.insert(m.shard.clone()) {
            return Err(provmark::Error::InvalidInput(format!(
                "shard {:?} appears twice; give each shard its own --shard name",
                m.shard
            ))
            .into());
        }
        if m.fingerprint_key_id != first.fingerprint_key_id
            || m.context != first.context
            || m.columns != first.columns
        {
            return Err(provmark::Error::InvalidInput(format!(
                "shard {:?} was exported with other keys, columns or context width than shard {:?}",
                m.shard, first.shard
            ))
            .into());
        }
    }
    let mut table = ExportTable {
        h: first.context,
        fingerprints: Vec::new(),
        columns: first
            .columns
            .iter()
            .map(|c| ExportColumn {
                name: c.key_id.clone(),
                data: match c.kind.as_str() {
                    "green" => ExportData::Green(Vec::new()),
                    "score" => ExportData::Score(Vec::new()),
                    _ => ExportData::Coded {
                        positions: Vec::new(),
                        classes: Vec::new(),
                    },
                },
            })
            .collect(),
    };
    let width = 1 + first.columns.iter().map(|c| c.parquet.len()).sum::<usize>();
    let mut index: HashMap<u64, usize> = HashMap::new();
    let mut rows_read = 0u64;
    for path in &parts {
        let file = std::fs::File::open(path).map_err(|e| provmark::Error::io(path, e))?;
        let reader = SerializedFileReader::new(file).map_err(|e| perr(path, e))?;
        let fields = reader
            .metadata()
            .file_metadata()
            .schema()
            .get_fields()
            .len();
        if fields != width {
            return Err(perr(path, format!("{fields} columns, the manifests say {width}")).into());
        }
        for row in reader.get_row_iter(None).map_err(|e| perr(path, e))? {
            let row = row.map_err(|e| perr(path, e))?;
            rows_read += 1;
            let fp = row.get_long(0).map_err(|e| perr(path, e))? as u64;
            let mut values: Vec<f64> = Vec::with_capacity(width - 1);
            let mut at = 1;
            for c in &table.columns {
                match c.data {
                    ExportData::Green(_) => {
                        values.push(f64::from(u8::from(
                            row.get_bool(at).map_err(|e| perr(path, e))?,
                        )));
                        at += 1;
                    }
                    ExportData::Score(_) => {
                        values.push(row.get_double(at).map_err(|e| perr(path, e))?);
                        at += 1;
                    }
                    ExportData::Coded { .. } => {
                        for k in 0..2 {
                            values.push(f64::from(row.get_int(at + k).map_err(|e| perr(path, e))?));
                        }
                        at += 2;
                    }
                }
            }
            if let Some(&i) = index.get(&fp) {
                if read_row(&table, i) != values {
                    return Err(provmark::Error::InvalidInput(format!(
                        "{}: shards disagree on tuple {} (same fingerprint, other values): \
                         exported with different keys or corrupted",
                        path.display(),
                        fp as i64
                    ))
                    .into());
                }
                continue;
            }
            index.insert(fp, table.fingerprints.len());
            table.fingerprints.push(fp);
            let mut v = values.into_iter();
            for c in &mut table.columns {
                match &mut c.data {
                    ExportData::Green(x) => x.push(v.next().unwrap_or(0.0) != 0.0),
                    ExportData::Score(x) => x.push(v.next().unwrap_or(0.0)),
                    ExportData::Coded { positions, classes } => {
                        let (p, b) = (v.next().unwrap_or(0.0), v.next().unwrap_or(0.0));
                        if !(0.0..64.0).contains(&p) || !(0.0..65536.0).contains(&b) {
                            return Err(
                                perr(path, "coded position or class bits out of range").into()
                            );
                        }
                        positions.push(p as u8);
                        classes.push(b as u16);
                    }
                }
            }
        }
    }
    Ok(Merged {
        table,
        manifests,
        rows_read,
    })
}

fn read_row(t: &ExportTable, i: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for c in &t.columns {
        match &c.data {
            ExportData::Green(v) => {
                out.push(f64::from(u8::from(v.get(i).copied().unwrap_or(false))))
            }
            ExportData::Score(v) => out.push(v.get(i).copied().unwrap_or(0.0)),
            ExportData::Coded { positions, classes } => {
                out.push(f64::from(positions.get(i).copied().unwrap_or(0)));
                out.push(f64::from(classes.get(i).copied().unwrap_or(0)));
            }
        }
    }
    out
}
