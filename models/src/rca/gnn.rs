//! A graph network that learns root-cause ranking from labelled incidents (candle).
//!
//! The hand-written rankers encode one rule each (the loudest service; the walk from callers
//! to anomalous callees). A graph network learns how evidence at a node and at its callers and
//! callees combine, from incidents whose cause is known (the simulator's ground truth). Each
//! layer mixes a node's own state with the mean state of its callers and, with other weights,
//! of its callees, so direction matters: a slow callee under slow callers is a different
//! pattern from a slow caller over healthy callees. Three layers see three hops. The output
//! is one logit per node; a softmax over the graph's nodes is the root-cause probability.
//!
//! Node inputs: the signed robust z of each evidence feature (clamped to ±20, scaled by 1/10),
//! the detector's flag, the node's strongest |z|, log(1 + callers), log(1 + callees), and the
//! hand-written rankers' scores (relative deviation, walk visits, their geometric mean), so
//! the network learns corrections to the rules rather than the rules themselves.
//! Cost of a ranking: three dense (n × n) × (n × hidden) products, well under a millisecond
//! for hundreds of services. Weights are initialised from a seeded stream (candle's CPU
//! generator cannot be seeded), and training shuffles with it.

use std::collections::{BTreeMap, HashMap};

use candle_core::{Device, Tensor, Var, D};
use candle_nn::Optimizer;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use std::path::{Path, PathBuf};

use super::combined::combined_score;
use super::walk::{node_anomaly, relative};
use super::{
    finish, CallEdge, CallGraph, Candidate, PersonalizedPageRank, RootCauseRanker, ServiceEvidence,
};
use crate::error::{ModelFileError, NetworkError};
use crate::model_file::{self, ModelKind, ModelMetadata, Tensor as Tensor32, TrainingInfo};

/// Evidence features a node's input holds, in order.
pub const NODE_FEATURES: [&str; 13] = [
    "error_rate_1m",
    "p50_latency_1m",
    "p95_latency_1m",
    "p99_latency_1m",
    "cpu_usage",
    "memory_usage",
    "disk_io_read",
    "disk_io_write",
    "network_in",
    "network_out",
    "inbound_network_gap",
    "outbound_network_gap",
    "outbound_call_ratio",
];

/// Inputs per node: the features, the flag, the strength, the two degrees and the three
/// rule scores (relative deviation, walk visits and their geometric mean).
pub const NODE_INPUTS: usize = NODE_FEATURES.len() + 4 + 3;

/// Settings of the network and its training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GnnConfig {
    /// Units per hidden layer.
    pub hidden: usize,
    /// Message-passing layers (the last one outputs the logit).
    pub layers: usize,
    /// Passes over the training incidents.
    pub epochs: usize,
    /// Incidents per gradient step.
    pub batch: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
}

impl Default for GnnConfig {
    fn default() -> Self {
        GnnConfig {
            hidden: 32,
            layers: 3,
            epochs: 60,
            batch: 8,
            learning_rate: 5e-3,
            seed: 0,
        }
    }
}

/// One labelled incident: the ranking inputs and the true cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledIncident {
    /// The call edges of the window.
    pub edges: Vec<CallEdge>,
    /// Every service's evidence.
    pub evidence: Vec<ServiceEvidence>,
    /// The service that was at fault.
    pub cause: String,
}

/// A graph's tensors: node names, inputs (n × inputs), caller and callee mean operators (n × n).
struct GraphTensors {
    services: Vec<String>,
    inputs: Tensor,
    /// The log of the combined ranker's relative score per node (n): the network's output is
    /// added to it, so an untrained network ranks as the rules do.
    prior: Tensor,
    from_callers: Tensor,
    from_callees: Tensor,
}

fn row_normalized(rows: &[Vec<usize>], n: usize) -> Vec<f32> {
    let mut matrix = vec![0.0f32; n * n];
    for (node, neighbours) in rows.iter().enumerate() {
        for other in neighbours {
            matrix[node * n + other] = 1.0 / neighbours.len() as f32;
        }
    }
    matrix
}

/// The hand-written rules' view of each node, each divided by its maximum over the window so
/// the rules' favourite has 1: the relative deviation (BARO), the walk's visits (PageRank) and
/// their geometric mean (the combined ranker). Given as inputs, the network starts from what
/// the rules know and learns where they go wrong, instead of rediscovering the walk.
fn rule_scores(graph: &CallGraph, anomaly: &[f64]) -> [Vec<f64>; 3] {
    let visits = relative(PersonalizedPageRank::default().visits(graph, anomaly));
    let combined = anomaly
        .iter()
        .zip(&visits)
        .map(|(a, v)| combined_score(*a, *v))
        .collect();
    [anomaly.to_vec(), visits, relative(combined)]
}

fn graph_tensors(
    graph: &CallGraph,
    evidence: &[ServiceEvidence],
) -> candle_core::Result<GraphTensors> {
    let (graph, anomaly, flagged) = node_anomaly(graph, evidence);
    let services: Vec<String> = graph.services().map(String::from).collect();
    let n = services.len();
    let by_service: HashMap<&str, &ServiceEvidence> =
        evidence.iter().map(|e| (e.service.as_str(), e)).collect();
    let callers: Vec<Vec<usize>> = (0..n)
        .map(|i| graph.callers(i).map(|(c, _)| c).collect())
        .collect();
    let callees: Vec<Vec<usize>> = (0..n)
        .map(|i| graph.callees(i).map(|(c, _)| c).collect())
        .collect();
    let rules = rule_scores(&graph, &anomaly);
    let mut inputs = Vec::with_capacity(n * NODE_INPUTS);
    for (node, service) in services.iter().enumerate() {
        let own = by_service.get(service.as_str());
        for feature in NODE_FEATURES {
            let z = own
                .and_then(|e| e.deviations.iter().find(|d| d.feature == feature))
                .map_or(0.0, |d| d.z);
            inputs.push((z.clamp(-20.0, 20.0) / 10.0) as f32);
        }
        inputs.push(f32::from(u8::from(flagged[node])));
        inputs.push((own.map_or(0.0, |e| e.strength()).min(20.0) / 10.0) as f32);
        inputs.push((1.0 + callers[node].len() as f32).ln());
        inputs.push((1.0 + callees[node].len() as f32).ln());
        inputs.extend(rules.iter().map(|rule| rule[node] as f32));
    }
    let device = Device::Cpu;
    Ok(GraphTensors {
        inputs: Tensor::from_vec(inputs, (n, NODE_INPUTS), &device)?,
        prior: Tensor::from_vec(prior_of(&rules[2]), n, &device)?,
        from_callers: Tensor::from_vec(row_normalized(&callers, n), (n, n), &device)?,
        from_callees: Tensor::from_vec(row_normalized(&callees, n), (n, n), &device)?,
        services,
    })
}

/// Lowest relative score the prior distinguishes: a node the rules rate a thousandth of their
/// favourite is as unlikely as one they rate zero.
const PRIOR_FLOOR: f64 = 1e-3;

/// The log of relative scores, floored at [`PRIOR_FLOOR`].
fn prior_of(relative: &[f64]) -> Vec<f32> {
    relative
        .iter()
        .map(|r| r.max(PRIOR_FLOOR).ln() as f32)
        .collect()
}

/// The weight of the rules' prior in the logits.
const PRIOR_SCALE: &str = "prior.scale";

/// Weight names and shapes of a network.
fn parameter_shapes(hidden: usize, layers: usize) -> Vec<(String, Vec<usize>)> {
    let mut shapes = Vec::new();
    for layer in 0..layers {
        let input = if layer == 0 { NODE_INPUTS } else { hidden };
        let output = if layer + 1 == layers { 1 } else { hidden };
        for part in ["self", "callers", "callees"] {
            shapes.push((format!("layer{layer}.{part}"), vec![input, output]));
        }
        shapes.push((format!("layer{layer}.bias"), vec![output]));
    }
    shapes.push((PRIOR_SCALE.to_string(), vec![1]));
    shapes
}

/// Named weights: shape and values (f32), as saved and loaded.
pub type NamedWeights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The learned ranker.
pub struct Gnn {
    weights: BTreeMap<String, Var>,
    layers: usize,
    hidden: usize,
}

impl Gnn {
    /// A network with seeded weights.
    pub fn new(hidden: usize, layers: usize, seed: u64) -> Result<Self, NetworkError> {
        if layers == 0 || hidden == 0 {
            return Err(NetworkError::Settings(
                "layers and hidden must be positive".into(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let weights = parameter_shapes(hidden, layers)
            .into_iter()
            .map(|(name, shape)| {
                let count: usize = shape.iter().product();
                let values: Vec<f32> = if name == PRIOR_SCALE {
                    vec![1.0]
                } else if name.starts_with(&format!("layer{}.", layers - 1)) {
                    // The output layer starts at zero: the untrained network is the rules.
                    vec![0.0; count]
                } else {
                    let bound = 1.0 / (shape[0] as f32).sqrt();
                    (0..count)
                        .map(|_| rng.random_range(-bound..bound))
                        .collect()
                };
                let var = Var::from_vec(values, shape, &Device::Cpu)?;
                Ok((name, var))
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Gnn {
            weights,
            layers,
            hidden,
        })
    }

    /// A network from named weights (as [`Self::tensors`] gives them).
    pub fn from_tensors(
        tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
        hidden: usize,
        layers: usize,
    ) -> Result<Self, NetworkError> {
        let mut weights = BTreeMap::new();
        for (name, shape) in parameter_shapes(hidden, layers) {
            let (found, values) = tensors
                .get(&name)
                .ok_or_else(|| NetworkError::MissingWeight(name.clone()))?;
            if *found != shape {
                return Err(NetworkError::Shape {
                    name,
                    found: found.clone(),
                    expected: shape,
                });
            }
            let var = Var::from_vec(values.clone(), shape, &Device::Cpu)?;
            weights.insert(name, var);
        }
        Ok(Gnn {
            weights,
            layers,
            hidden,
        })
    }

    /// The weights by name: shape and values.
    pub fn tensors(&self) -> Result<NamedWeights, NetworkError> {
        self.weights
            .iter()
            .map(|(name, var)| {
                let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                Ok((name.clone(), (var.dims().to_vec(), values)))
            })
            .collect::<candle_core::Result<_>>()
            .map_err(NetworkError::from)
    }

    /// Units per hidden layer and layers.
    pub fn shape(&self) -> (usize, usize) {
        (self.hidden, self.layers)
    }

    fn weight(&self, name: &str) -> candle_core::Result<&Tensor> {
        self.weights
            .get(name)
            .map(Var::as_tensor)
            .ok_or_else(|| candle_core::Error::Msg(format!("no weight {name}")))
    }

    /// One logit per node (n).
    fn logits(&self, graph: &GraphTensors) -> candle_core::Result<Tensor> {
        let mut state = graph.inputs.clone();
        for layer in 0..self.layers {
            let own = state.matmul(self.weight(&format!("layer{layer}.self"))?)?;
            let up = graph
                .from_callers
                .matmul(&state)?
                .matmul(self.weight(&format!("layer{layer}.callers"))?)?;
            let down = graph
                .from_callees
                .matmul(&state)?
                .matmul(self.weight(&format!("layer{layer}.callees"))?)?;
            let mixed =
                ((own + up)? + down)?.broadcast_add(self.weight(&format!("layer{layer}.bias"))?)?;
            state = if layer + 1 == self.layers {
                mixed
            } else {
                mixed.relu()?
            };
        }
        let prior = graph.prior.broadcast_mul(self.weight(PRIOR_SCALE)?)?;
        state.squeeze(1)? + prior
    }

    /// Root-cause probability per node, with the node names.
    pub fn probabilities(
        &self,
        graph: &CallGraph,
        evidence: &[ServiceEvidence],
    ) -> Result<Vec<(String, f64)>, NetworkError> {
        let tensors = graph_tensors(graph, evidence)?;
        let probabilities = self
            .logits(&tensors)
            .and_then(|l| candle_nn::ops::softmax(&l, D::Minus1)?.to_vec1::<f32>())?;
        Ok(tensors
            .services
            .into_iter()
            .zip(probabilities.into_iter().map(f64::from))
            .collect())
    }

    /// Trains on `incidents` (those whose cause is not in the graph or evidence are skipped);
    /// `epoch_done(epoch, mean loss)` after each pass. Returns the incidents used.
    pub fn train(
        &self,
        incidents: &[LabelledIncident],
        config: &GnnConfig,
        mut epoch_done: impl FnMut(usize, f64),
    ) -> Result<usize, NetworkError> {
        let examples: Vec<(GraphTensors, u32)> = incidents
            .iter()
            .filter_map(|incident| {
                let graph = CallGraph::new(&incident.edges, std::iter::empty());
                let tensors = graph_tensors(&graph, &incident.evidence).ok()?;
                let label = tensors.services.iter().position(|s| *s == incident.cause)?;
                Some((tensors, label as u32))
            })
            .collect();
        if examples.is_empty() {
            return Err(NetworkError::Settings(
                "no incident whose cause is a node of its graph".into(),
            ));
        }
        let params = candle_nn::ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: 1e-4,
            ..Default::default()
        };
        let variables: Vec<Var> = self.weights.values().cloned().collect();
        let mut optimizer = candle_nn::AdamW::new(variables, params)?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6e6e);
        let mut order: Vec<usize> = (0..examples.len()).collect();
        for epoch in 0..config.epochs {
            order.shuffle(&mut rng);
            let mut total = 0.0;
            for chunk in order.chunks(config.batch.max(1)) {
                let loss = self.batch_loss(&examples, chunk)?;
                optimizer.backward_step(&loss)?;
                total += f64::from(loss.to_scalar::<f32>()?) * chunk.len() as f64;
            }
            epoch_done(epoch, total / examples.len() as f64);
        }
        Ok(examples.len())
    }

    fn batch_loss(
        &self,
        examples: &[(GraphTensors, u32)],
        chosen: &[usize],
    ) -> candle_core::Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for index in chosen {
            let (graph, label) = &examples[*index];
            let logits = self.logits(graph)?.unsqueeze(0)?;
            let target = Tensor::new(&[*label], &Device::Cpu)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &target)?;
            total = Some(match total {
                None => loss,
                Some(sum) => (sum + loss)?,
            });
        }
        let total = total.ok_or_else(|| candle_core::Error::Msg("empty batch".into()))?;
        total / chosen.len() as f64
    }
}

impl Gnn {
    /// Writes the network as the next `gnn` version in `dir`; `training` and `evaluation`
    /// describe the incidents it learned from.
    pub fn save(
        &self,
        dir: &Path,
        config: &GnnConfig,
        training: TrainingInfo,
        evaluation: BTreeMap<String, f64>,
        created_at: String,
    ) -> Result<PathBuf, ModelFileError> {
        let tensors = self
            .tensors()
            .map_err(|e| ModelFileError::corrupt(dir, e))?
            .into_iter()
            .map(|(name, (shape, values))| (name, Tensor32::f32(shape, &values)))
            .collect();
        let features = NODE_FEATURES.iter().map(|f| f.to_string()).collect();
        let mut metadata = ModelMetadata {
            params: BTreeMap::from([
                ("hidden".into(), config.hidden as f64),
                ("layers".into(), config.layers as f64),
                ("epochs".into(), config.epochs as f64),
                ("learning_rate".into(), config.learning_rate),
            ]),
            evaluation,
            created_at,
            ..ModelMetadata::unwritten(ModelKind::Gnn, features, config.seed, training)
        };
        model_file::write(dir, &mut metadata, tensors)
    }

    /// Loads a `gnn` model file, checking its kind, node features and weight shapes.
    pub fn load(json_path: &Path) -> Result<Self, ModelFileError> {
        let (metadata, weights) = model_file::read_kind(json_path, ModelKind::Gnn, &NODE_FEATURES)?;
        // Node inputs are positional: the same names in the same order.
        if metadata.features != NODE_FEATURES {
            return Err(ModelFileError::mismatch(
                json_path,
                format!(
                    "node features {:?} differ from this build's {NODE_FEATURES:?}",
                    metadata.features
                ),
            ));
        }
        let param = |name: &str| metadata.params.get(name).copied().unwrap_or(0.0) as usize;
        let mut tensors = HashMap::new();
        for name in weights.names() {
            tensors.insert(name.to_string(), weights.f32(name)?);
        }
        Gnn::from_tensors(tensors, param("hidden"), param("layers"))
            .map_err(|e| ModelFileError::mismatch(weights.path(), e.to_string()))
    }

    /// The newest `gnn` model in `dir`, if there is one.
    pub fn newest(dir: &Path) -> Result<Option<(u64, Self)>, ModelFileError> {
        match model_file::versions(dir, ModelKind::Gnn)?.pop() {
            None => Ok(None),
            Some((version, path)) => Ok(Some((version, Gnn::load(&path)?))),
        }
    }
}

impl RootCauseRanker for Gnn {
    fn name(&self) -> &'static str {
        "gnn"
    }

    fn rank(&self, graph: &CallGraph, evidence: &[ServiceEvidence]) -> Vec<Candidate> {
        // A failure here (it needs a malformed network, which loading rules out) ranks
        // nothing rather than taking the job down.
        let probabilities = self.probabilities(graph, evidence).unwrap_or_default();
        let candidates = probabilities
            .into_iter()
            .map(|(service, score)| Candidate {
                service,
                score,
                evidence: Vec::new(),
            })
            .collect();
        finish(candidates, evidence, graph)
    }
}

impl std::fmt::Debug for Gnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Gnn {{ hidden: {}, layers: {} }}",
            self.hidden, self.layers
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Baro, Deviation};
    use super::*;

    /// A random call tree of 8-15 services; the cause is a non-root node whose latency (z 8)
    /// shows up louder (z 12) at each caller up to the root, as slow calls add up; every other
    /// node has small noise. Baro, which trusts the loudest node, blames a caller.
    fn incident(rng: &mut ChaCha8Rng) -> LabelledIncident {
        let n = rng.random_range(8..16);
        let parents: Vec<usize> = (1..n).map(|i| rng.random_range(0..i)).collect();
        let name = |i: usize| format!("s{i}");
        let edges: Vec<CallEdge> = parents
            .iter()
            .enumerate()
            .map(|(child, parent)| CallEdge::new(&name(*parent), &name(child + 1), 100, 0, None))
            .collect();
        let cause = rng.random_range(1..n);
        let mut on_path = vec![false; n];
        let mut node = cause;
        while node != 0 {
            node = parents[node - 1];
            on_path[node] = true;
        }
        let evidence = (0..n)
            .map(|i| {
                let noise = rng.random_range(-1.5..1.5);
                let (z, anomalous) = if i == cause {
                    (8.0, true)
                } else if on_path[i] {
                    (12.0 + noise, true)
                } else {
                    (noise, false)
                };
                ServiceEvidence {
                    service: name(i),
                    deviations: vec![Deviation {
                        feature: "p95_latency_1m".into(),
                        z,
                    }],
                    anomalous,
                    ..Default::default()
                }
            })
            .collect();
        LabelledIncident {
            edges,
            evidence,
            cause: name(cause),
        }
    }

    fn accuracy(ranker: &dyn RootCauseRanker, incidents: &[LabelledIncident]) -> f64 {
        let hits = incidents
            .iter()
            .filter(|i| {
                let graph = CallGraph::new(&i.edges, std::iter::empty());
                ranker.rank(&graph, &i.evidence)[0].service == i.cause
            })
            .count();
        hits as f64 / incidents.len() as f64
    }

    #[test]
    fn learns_to_look_past_the_loudest_caller_to_the_cause() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let training: Vec<LabelledIncident> = (0..150).map(|_| incident(&mut rng)).collect();
        let test: Vec<LabelledIncident> = (0..80).map(|_| incident(&mut rng)).collect();
        let config = GnnConfig {
            epochs: 40,
            ..Default::default()
        };
        let gnn = Gnn::new(config.hidden, config.layers, config.seed).expect("builds");
        let mut losses = Vec::new();
        gnn.train(&training, &config, |_, loss| losses.push(loss))
            .expect("trains");
        assert!(losses[losses.len() - 1] < losses[0] / 3.0, "{losses:?}");
        let (learned, loudest) = (accuracy(&gnn, &test), accuracy(&Baro, &test));
        assert!(learned >= 0.8, "AC@1 {learned}");
        assert!(learned > loudest + 0.3, "gnn {learned} vs baro {loudest}");
    }

    #[test]
    fn an_untrained_network_ranks_as_the_combined_rules_do() {
        use super::super::Combined;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let gnn = Gnn::new(32, 3, 9).expect("builds");
        for incident in (0..30).map(|_| incident(&mut rng)) {
            let graph = CallGraph::new(&incident.edges, std::iter::empty());
            // The rules' order down to the prior's floor (below it nodes tie).
            let rules = Combined::default().rank(&graph, &incident.evidence);
            let clear: Vec<&str> = rules
                .iter()
                .take_while(|c| c.score > rules[0].score * PRIOR_FLOOR * 1.01)
                .map(|c| c.service.as_str())
                .collect();
            let learned = gnn.rank(&graph, &incident.evidence);
            let learned: Vec<&str> = learned.iter().map(|c| c.service.as_str()).collect();
            assert!(clear.len() >= 2, "{rules:?}");
            assert_eq!(learned[..clear.len()], clear[..]);
        }
    }

    #[test]
    fn the_rules_favourite_gets_a_rule_input_of_one() {
        use crate::rca::fixtures;
        let graph = fixtures::graph(&[("front", "api"), ("api", "cache")]);
        let evidence = fixtures::evidence(&[("front", 6.0), ("api", 7.0), ("cache", 0.2)]);
        let (graph, anomaly, _) = node_anomaly(&graph, &evidence);
        let [deviation, _, combined] = rule_scores(&graph, &anomaly);
        let api = graph.index_of("api").expect("api");
        let favourite =
            |scores: &[f64]| (0..scores.len()).max_by(|a, b| scores[*a].total_cmp(&scores[*b]));
        assert_eq!(favourite(&combined), Some(api), "{combined:?}");
        assert_eq!((deviation[api], combined[api]), (1.0, 1.0));
    }

    #[test]
    fn weights_round_trip_and_the_same_seed_trains_the_same_network() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let incidents: Vec<LabelledIncident> = (0..20).map(|_| incident(&mut rng)).collect();
        let config = GnnConfig {
            epochs: 2,
            ..Default::default()
        };
        let train = || {
            let gnn = Gnn::new(config.hidden, config.layers, config.seed).expect("builds");
            gnn.train(&incidents, &config, |_, _| {}).expect("trains");
            gnn
        };
        let (a, b) = (train(), train());
        assert_eq!(a.tensors().expect("a"), b.tensors().expect("b"));
        let copy =
            Gnn::from_tensors(a.tensors().expect("a").into_iter().collect(), 32, 3).expect("loads");
        let graph = CallGraph::new(&incidents[0].edges, std::iter::empty());
        let probabilities = |g: &Gnn| g.probabilities(&graph, &incidents[0].evidence).expect("p");
        assert_eq!(probabilities(&a), probabilities(&copy));
        let total: f64 = probabilities(&a).iter().map(|(_, p)| p).sum();
        assert!((total - 1.0).abs() < 1e-4);
        assert!(Gnn::from_tensors(HashMap::new(), 32, 3).is_err());
        let dir = tempfile::tempdir().expect("dir");
        let info = TrainingInfo {
            source: "test".into(),
            from: String::new(),
            to: String::new(),
            rows: 20,
            data_hash: String::new(),
        };
        a.save(dir.path(), &config, info, BTreeMap::new(), "now".into())
            .expect("saves");
        let (version, loaded) = Gnn::newest(dir.path()).expect("reads").expect("one model");
        assert_eq!(version, 1);
        assert_eq!(probabilities(&loaded), probabilities(&a));
    }
}
