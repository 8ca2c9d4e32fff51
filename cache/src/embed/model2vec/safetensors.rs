//! A reader for the safetensors format, enough for a model2vec table.
//!
//! Layout: an 8-byte little-endian header length `n`, `n` bytes of JSON (an object mapping
//! each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`, plus an optional
//! `"__metadata__"` object of strings), then the data; offsets are relative to the first
//! data byte. Parsed by hand rather than with the `safetensors` crate: the format is that
//! small, and every check below names what is wrong in terms an operator can act on.
//!
//! Checks: the header fits in the file and is at most [`HEADER_BYTES_MAX`]; each tensor's
//! dtype is known, its shape multiplies out without overflow, `begin <= end <= data
//! length`, and `end - begin` is exactly the shape's element count times the dtype's size.
//! Tensors may overlap or leave gaps (the format forbids it, but nothing here depends on
//! it). Data need not be aligned: values are decoded with `from_le_bytes`.

use std::collections::HashMap;

/// The largest JSON header accepted, the limit the reference implementation uses too.
pub(super) const HEADER_BYTES_MAX: u64 = 100 << 20;

/// Element types a tensor may have; only those model2vec writes are converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
}

impl Dtype {
    fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I64" => Dtype::I64,
            "I32" => Dtype::I32,
            "I16" => Dtype::I16,
            "I8" => Dtype::I8,
            "U64" => Dtype::U64,
            "U32" => Dtype::U32,
            "U16" => Dtype::U16,
            "U8" => Dtype::U8,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 | Dtype::U64 => 8,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::I8 | Dtype::U8 => 1,
        }
    }
}

/// One tensor: its type, shape and raw little-endian bytes inside the file.
#[derive(Debug)]
pub(super) struct Tensor<'a> {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: &'a [u8],
}

/// Parses the header of a whole safetensors file and slices out every tensor. The error
/// is a sentence without the file name (the caller adds it).
pub(super) fn parse(file: &[u8]) -> Result<HashMap<String, Tensor<'_>>, String> {
    let Some(len_bytes) = file.get(..8) else {
        return Err(format!(
            "{} bytes, shorter than the 8-byte header length",
            file.len()
        ));
    };
    let n = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if n > HEADER_BYTES_MAX {
        return Err(format!(
            "header length {n} exceeds the {HEADER_BYTES_MAX}-byte limit (not a safetensors file?)"
        ));
    }
    let rest = &file[8..];
    if n > rest.len() as u64 {
        return Err(format!(
            "header length {n} but only {} bytes follow (truncated file?)",
            rest.len()
        ));
    }
    let (header, data) = rest.split_at(n as usize);
    let header: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("header is not valid JSON: {e}"))?;
    let serde_json::Value::Object(entries) = header else {
        return Err("header is not a JSON object".to_owned());
    };
    let mut out = HashMap::with_capacity(entries.len());
    for (name, entry) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let tensor = tensor(entry, data).map_err(|e| format!("tensor {name:?}: {e}"))?;
        out.insert(name.clone(), tensor);
    }
    Ok(out)
}

fn tensor<'a>(entry: &serde_json::Value, data: &'a [u8]) -> Result<Tensor<'a>, String> {
    let dtype_name = entry
        .get("dtype")
        .and_then(|d| d.as_str())
        .ok_or("no \"dtype\" string")?;
    let dtype =
        Dtype::parse(dtype_name).ok_or_else(|| format!("unsupported dtype {dtype_name:?}"))?;
    let shape = entry
        .get("shape")
        .and_then(|s| s.as_array())
        .ok_or("no \"shape\" array")?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or("\"shape\" holds something other than non-negative integers")?;
    let offsets = entry
        .get("data_offsets")
        .and_then(|o| o.as_array())
        .filter(|o| o.len() == 2)
        .and_then(|o| Some((o[0].as_u64()?, o[1].as_u64()?)))
        .ok_or("\"data_offsets\" is not a pair of non-negative integers")?;
    let (begin, end) = offsets;
    if begin > end || end > data.len() as u64 {
        return Err(format!(
            "data_offsets [{begin}, {end}] outside the {} data bytes (truncated file?)",
            data.len()
        ));
    }
    let want = shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} overflows"))?;
    if (end - begin) as usize != want {
        return Err(format!(
            "shape {shape:?} of {dtype_name} needs {want} bytes but data_offsets give {}",
            end - begin
        ));
    }
    Ok(Tensor {
        dtype,
        shape,
        bytes: &data[begin as usize..end as usize],
    })
}

/// The tensor's values as f32 (floats and I8, the dtypes model2vec writes for tables and
/// weights; I8 tables carry one global scale that is not stored, and a global scale does
/// not change an L2-normalized mean).
pub(super) fn to_f32(t: &Tensor<'_>) -> Result<Vec<f32>, String> {
    let b = t.bytes;
    Ok(match t.dtype {
        Dtype::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::I8 => b.iter().map(|&v| v as i8 as f32).collect(),
        other => {
            return Err(format!(
                "dtype {other:?} where F32, F16, BF16, F64 or I8 values are expected"
            ))
        }
    })
}

/// The tensor's values as indices (any integer dtype; negative values are an error).
pub(super) fn to_indices(t: &Tensor<'_>) -> Result<Vec<u64>, String> {
    let b = t.bytes;
    let signed: Vec<i128> = match t.dtype {
        Dtype::I64 => b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as i128)
            .collect(),
        Dtype::U64 => b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")) as i128)
            .collect(),
        Dtype::I32 => b
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i128)
            .collect(),
        Dtype::U32 => b
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")) as i128)
            .collect(),
        Dtype::I16 => b
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as i128)
            .collect(),
        Dtype::U16 => b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as i128)
            .collect(),
        Dtype::I8 => b.iter().map(|&v| v as i8 as i128).collect(),
        Dtype::U8 => b.iter().map(|&v| v as i128).collect(),
        other => {
            return Err(format!(
                "dtype {other:?} where integer indices are expected"
            ))
        }
    };
    signed
        .into_iter()
        .enumerate()
        .map(|(i, v)| u64::try_from(v).map_err(|_| format!("negative index {v} at position {i}")))
        .collect()
}
