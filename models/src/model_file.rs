//! Models on disk: weights as safetensors, everything else as JSON beside them.
//!
//! A model directory holds versions side by side, `<kind>-v<version>.safetensors` and
//! `<kind>-v<version>.json`. The weights are written first and the JSON last (under a
//! temporary name, then renamed), and the JSON carries the weights' checksum, so a reader that
//! sees a JSON file sees a complete model and can tell a corrupt or half-copied weights file.
//! safetensors is the format PyTorch and candle both read, so weights can leave and enter the
//! Rust engine without pickles. Every check that can fail on a user's file returns an error
//! naming the file and the mismatch; nothing here panics on input.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::error::ModelFileError;
use crate::scaler::StandardScaler;

/// The metadata layout this build reads and writes. Bumped when a field changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// Which model a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// [`crate::iforest::IsolationForest`].
    IsolationForest,
    /// [`crate::lstm::Forecaster`].
    Lstm,
    /// [`crate::rca::gnn::Gnn`].
    Gnn,
    /// [`crate::window_model::WindowModel`].
    Neighbours,
}

impl ModelKind {
    /// The name used in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::IsolationForest => "isolation-forest",
            ModelKind::Lstm => "lstm",
            ModelKind::Gnn => "gnn",
            ModelKind::Neighbours => "neighbours",
        }
    }
}

/// Where the training rows came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingInfo {
    /// The store: a Parquet directory or a PostgreSQL URL without its password.
    pub source: String,
    /// First minute of the range, RFC 3339.
    pub from: String,
    /// End of the range (exclusive), RFC 3339.
    pub to: String,
    /// Rows used.
    pub rows: usize,
    /// xxh3 of the training matrix, so two models can be told to come from the same data.
    pub data_hash: String,
}

impl TrainingInfo {
    /// Rows from `source` over `from..to`; training fills in `rows` and `data_hash`.
    pub fn new(source: impl Into<String>, from: impl Into<String>, to: impl Into<String>) -> Self {
        TrainingInfo {
            source: source.into(),
            from: from.into(),
            to: to.into(),
            rows: 0,
            data_hash: String::new(),
        }
    }
}

/// Everything about a model except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The model.
    pub kind: ModelKind,
    /// Increases by one per model written to a directory.
    pub version: u64,
    /// Input feature names, in the order the weights expect.
    pub features: Vec<String>,
    /// Standard scaling per service (services absent here are not scored by the model).
    pub scalers: BTreeMap<String, StandardScaler>,
    /// Raw model scores at or above this are anomalous.
    pub threshold: f64,
    /// Kind-specific settings (trees, subsample, contamination, ...).
    pub params: BTreeMap<String, f64>,
    /// The seed of every random choice in training.
    pub seed: u64,
    /// Training range and data.
    pub training: TrainingInfo,
    /// Figures measured at training time (flagged share, score quantiles, ...).
    pub evaluation: BTreeMap<String, f64>,
    /// Per-feature reference histograms of the training data, for drift.
    pub reference: Vec<crate::drift::Histogram>,
    /// The weights file name, relative to the metadata file.
    pub weights_file: String,
    /// xxh3 of the weights file, hex.
    pub weights_xxh3: String,
    /// When the model was written, RFC 3339.
    pub created_at: String,
}

impl ModelMetadata {
    /// Metadata of a `kind` model about to be written: the caller adds what describes the
    /// model (threshold, scalers, params, figures, reference histograms); [`write()`] fills in
    /// the version, the weights file and its checksum.
    pub fn unwritten(
        kind: ModelKind,
        features: Vec<String>,
        seed: u64,
        training: TrainingInfo,
    ) -> Self {
        ModelMetadata {
            format_version: FORMAT_VERSION,
            kind,
            version: 0,
            features,
            scalers: BTreeMap::new(),
            threshold: 0.0,
            params: BTreeMap::new(),
            seed,
            training,
            evaluation: BTreeMap::new(),
            reference: Vec::new(),
            weights_file: String::new(),
            weights_xxh3: String::new(),
            created_at: String::new(),
        }
    }
}

/// One tensor, owned, little-endian.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl Tensor {
    /// A float64 tensor.
    pub fn f64(shape: Vec<usize>, values: &[f64]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor {
            dtype: Dtype::F64,
            shape,
            data,
        }
    }

    /// A float32 tensor.
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor {
            dtype: Dtype::F32,
            shape,
            data,
        }
    }

    /// An int64 tensor.
    pub fn i64(shape: Vec<usize>, values: &[i64]) -> Self {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor {
            dtype: Dtype::I64,
            shape,
            data,
        }
    }
}

/// Named tensors read from a file, with the path for error messages.
#[derive(Debug)]
pub struct Weights {
    path: PathBuf,
    tensors: HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
}

impl Weights {
    /// Parses safetensors bytes.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, ModelFileError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| ModelFileError::corrupt(path, e))?;
        let tensors = file
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let entry = (view.dtype(), view.shape().to_vec(), view.data().to_vec());
                (name, entry)
            })
            .collect();
        Ok(Weights {
            path: path.to_path_buf(),
            tensors,
        })
    }

    fn get(&self, name: &str, dtype: Dtype) -> Result<(&[usize], &[u8]), ModelFileError> {
        let (found, shape, data) = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelFileError::mismatch(&self.path, format!("no tensor `{name}`")))?;
        if *found != dtype {
            return Err(ModelFileError::mismatch(
                &self.path,
                format!("tensor `{name}` is {found:?}, expected {dtype:?}"),
            ));
        }
        Ok((shape, data))
    }

    /// A float64 tensor's shape and values.
    pub fn f64(&self, name: &str) -> Result<(Vec<usize>, Vec<f64>), ModelFileError> {
        let (shape, data) = self.get(name, Dtype::F64)?;
        let values = data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        Ok((shape.to_vec(), values))
    }

    /// A float32 tensor's shape and values.
    pub fn f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>), ModelFileError> {
        let (shape, data) = self.get(name, Dtype::F32)?;
        let values = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        Ok((shape.to_vec(), values))
    }

    /// The names of all tensors.
    pub fn names(&self) -> Vec<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }

    /// An int64 tensor's shape and values.
    pub fn i64(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>), ModelFileError> {
        let (shape, data) = self.get(name, Dtype::I64)?;
        let values = data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        Ok((shape.to_vec(), values))
    }

    /// The file the tensors came from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelFileError + '_ {
    move |source| ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hex_xxh3(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}

/// The safetensors encoding of `tensors`.
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, Tensor>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let views = tensors
        .iter()
        .map(|(name, t)| {
            safetensors::tensor::TensorView::new(t.dtype, t.shape.clone(), &t.data)
                .map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None)
}

/// The versions of `kind` in `dir` that have a metadata file, ascending.
pub fn versions(dir: &Path, kind: ModelKind) -> Result<Vec<(u64, PathBuf)>, ModelFileError> {
    let prefix = format!("{}-v", kind.name());
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix(&prefix)?.strip_suffix(".json")?;
            Some((version.parse().ok()?, entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Writes a new version of `metadata.kind` into `dir` (created if absent): weights first,
/// then the metadata, which names them and carries their checksum. Sets `version`,
/// `weights_file` and `weights_xxh3`; returns the metadata file's path.
pub fn write(
    dir: &Path,
    metadata: &mut ModelMetadata,
    tensors: BTreeMap<String, Tensor>,
) -> Result<PathBuf, ModelFileError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let latest = versions(dir, metadata.kind)?.last().map_or(0, |(v, _)| *v);
    metadata.version = latest + 1;
    metadata.format_version = FORMAT_VERSION;
    let stem = format!("{}-v{}", metadata.kind.name(), metadata.version);
    let weights_path = dir.join(format!("{stem}.safetensors"));
    let bytes =
        safetensors_bytes(&tensors).map_err(|e| ModelFileError::corrupt(&weights_path, e))?;
    std::fs::write(&weights_path, &bytes).map_err(io(&weights_path))?;
    metadata.weights_file = format!("{stem}.safetensors");
    metadata.weights_xxh3 = hex_xxh3(&bytes);
    let json_path = dir.join(format!("{stem}.json"));
    let temporary = dir.join(format!(".{stem}.json.tmp"));
    let json =
        serde_json::to_vec_pretty(metadata).map_err(|e| ModelFileError::corrupt(&json_path, e))?;
    std::fs::write(&temporary, json).map_err(io(&temporary))?;
    std::fs::rename(&temporary, &json_path).map_err(io(&json_path))?;
    Ok(json_path)
}

/// Reads a metadata file and its weights, checking the format version, the checksum and the
/// scalers' shapes. The caller checks what only it knows (kind, feature names).
pub fn read(json_path: &Path) -> Result<(ModelMetadata, Weights), ModelFileError> {
    let text = std::fs::read(json_path).map_err(io(json_path))?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| ModelFileError::corrupt(json_path, e))?;
    let format = value.get("format_version").and_then(|v| v.as_u64());
    if format != Some(u64::from(FORMAT_VERSION)) {
        return Err(ModelFileError::mismatch(
            json_path,
            format!(
                "model format version {} is not the version this build reads ({FORMAT_VERSION})",
                format.map_or("missing".to_string(), |v| v.to_string())
            ),
        ));
    }
    let metadata: ModelMetadata =
        serde_json::from_value(value).map_err(|e| ModelFileError::corrupt(json_path, e))?;
    for (service, scaler) in &metadata.scalers {
        scaler
            .validate(metadata.features.len())
            .map_err(|message| {
                ModelFileError::mismatch(json_path, format!("service {service}: {message}"))
            })?;
    }
    let weights_path = json_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&metadata.weights_file);
    let bytes = std::fs::read(&weights_path).map_err(io(&weights_path))?;
    let found = hex_xxh3(&bytes);
    if found != metadata.weights_xxh3 {
        return Err(ModelFileError::corrupt(
            &weights_path,
            format!(
                "checksum {found} differs from {} recorded in {}: the file is corrupt or from another model",
                metadata.weights_xxh3,
                json_path.display()
            ),
        ));
    }
    let weights = Weights::parse(&weights_path, &bytes)?;
    Ok((metadata, weights))
}

/// [`read`], then checks that the file holds a `kind` model whose features are all among
/// `known_features` (the inputs the caller can supply), naming the mismatch otherwise.
pub fn read_kind(
    json_path: &Path,
    kind: ModelKind,
    known_features: &[&str],
) -> Result<(ModelMetadata, Weights), ModelFileError> {
    let (metadata, weights) = read(json_path)?;
    if metadata.kind != kind {
        return Err(ModelFileError::mismatch(
            json_path,
            format!(
                "holds a {} model, not {}",
                metadata.kind.name(),
                kind.name()
            ),
        ));
    }
    let unknown: Vec<&str> = metadata
        .features
        .iter()
        .map(String::as_str)
        .filter(|f| !known_features.contains(f))
        .collect();
    if !unknown.is_empty() {
        return Err(ModelFileError::mismatch(
            json_path,
            format!("features {unknown:?} are not inputs this build provides ({known_features:?})"),
        ));
    }
    Ok((metadata, weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> ModelMetadata {
        ModelMetadata {
            format_version: FORMAT_VERSION,
            kind: ModelKind::IsolationForest,
            version: 0,
            features: vec!["a".into(), "b".into()],
            scalers: BTreeMap::from([(
                "api".to_string(),
                StandardScaler {
                    mean: vec![0.0, 1.0],
                    scale: vec![1.0, 2.0],
                },
            )]),
            threshold: 0.6,
            params: BTreeMap::new(),
            seed: 1,
            training: TrainingInfo {
                source: "test".into(),
                from: "2026-01-01T00:00:00Z".into(),
                to: "2026-01-02T00:00:00Z".into(),
                rows: 2,
                data_hash: "0".into(),
            },
            evaluation: BTreeMap::new(),
            reference: Vec::new(),
            weights_file: String::new(),
            weights_xxh3: String::new(),
            created_at: "2026-01-02T00:00:00Z".into(),
        }
    }

    fn tensors() -> BTreeMap<String, Tensor> {
        BTreeMap::from([
            ("w".to_string(), Tensor::f64(vec![2], &[1.5, -2.0])),
            ("i".to_string(), Tensor::i64(vec![1, 3], &[1, 2, 3])),
        ])
    }

    #[test]
    fn round_trips_and_numbers_versions() {
        let dir = tempfile::tempdir().expect("dir");
        let mut first = metadata();
        let path = write(dir.path(), &mut first, tensors()).expect("writes");
        assert_eq!(first.version, 1);
        let mut second = metadata();
        write(dir.path(), &mut second, tensors()).expect("writes");
        assert_eq!(second.version, 2);
        let (read_back, weights) = read(&path).expect("reads");
        assert_eq!(read_back, first);
        assert_eq!(weights.f64("w").expect("w"), (vec![2], vec![1.5, -2.0]));
        assert_eq!(weights.i64("i").expect("i"), (vec![1, 3], vec![1, 2, 3]));
        assert!(weights.f64("i").unwrap_err().to_string().contains("I64"));
        let listed = versions(dir.path(), ModelKind::IsolationForest).expect("lists");
        assert_eq!(listed.iter().map(|v| v.0).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn corrupt_weights_and_other_versions_are_named_errors() {
        let dir = tempfile::tempdir().expect("dir");
        let mut meta = metadata();
        let path = write(dir.path(), &mut meta, tensors()).expect("writes");
        let weights = dir.path().join(&meta.weights_file);
        let mut bytes = std::fs::read(&weights).expect("reads");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&weights, bytes).expect("writes");
        let error = read(&path).expect_err("corrupt").to_string();
        assert!(error.contains("checksum"), "{error}");

        let text = std::fs::read_to_string(&path).expect("reads");
        std::fs::write(
            &path,
            text.replace("\"format_version\": 1", "\"format_version\": 9"),
        )
        .expect("writes");
        let error = read(&path).expect_err("version").to_string();
        assert!(error.contains("format version 9"), "{error}");
        std::fs::write(&path, "{not json").expect("writes");
        assert!(read(&path).is_err());
    }
}
