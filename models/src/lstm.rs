//! An LSTM forecaster of the next minute's (scaled) features, in candle, scored by its
//! prediction error and run as a stream: one step per new row, state kept per series.
//!
//! Shape as in the original design: stacked LSTM layers (2 × 64 by default) over windows of
//! 60 minutes, trained to predict each next minute from the minutes before it, then a linear
//! head. At serving time no window is replayed: the scoring operator keeps each series' LSTM
//! state and the forecast it made for the coming minute, so a row costs one step. A row's raw
//! score is the mean squared difference between what came and what was forecast.
//!
//! candle's CPU random generator cannot be seeded, so every weight is initialised here from a
//! seeded ChaCha stream (PyTorch's uniform ±1/√hidden), and batches are shuffled with it too:
//! the same data and seed give the same model.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Tensor};
use candle_nn::rnn::{LSTMConfig, LSTM, RNN};
use candle_nn::{Linear, Module, Optimizer, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::NetworkError;

/// Settings of the forecaster and its training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmConfig {
    /// Units per layer.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// Minutes per training window.
    pub window: usize,
    /// Passes over the training windows.
    pub epochs: usize,
    /// Windows per gradient step.
    pub batch: usize,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
}

impl Default for LstmConfig {
    fn default() -> Self {
        LstmConfig {
            hidden: 64,
            layers: 2,
            window: 60,
            epochs: 20,
            batch: 32,
            learning_rate: 3e-3,
            seed: 0,
        }
    }
}

/// The longest restart period of the scoring state ([`StaggeredState`]), in rows. Its
/// states reach back at most 47 rows, which a job restarted with an hour's replay rebuilds
/// exactly, with 12 minutes to spare for byte-counter rates (they look back to the previous
/// sample).
pub const MAX_RESET_PERIOD: usize = 48;

/// The shortest restart period: the older half must be past the scoring warm-up
/// (`sequence_model::WARM_UP_STEPS`) at every row.
pub const MIN_RESET_PERIOD: usize = 12;

impl LstmConfig {
    /// The restart period of the scoring state: the training window, so a forecast never has
    /// more context than training gave, within [`MIN_RESET_PERIOD`]..=[`MAX_RESET_PERIOD`].
    pub fn reset_period(&self) -> usize {
        self.window.clamp(MIN_RESET_PERIOD, MAX_RESET_PERIOD)
    }
}

/// The network: layers and head, with the variables that hold their weights.
pub struct Forecaster {
    layers: Vec<LSTM>,
    head: Linear,
    features: usize,
    hidden: usize,
    variables: VarMap,
    /// The same weights as plain vectors, for streaming inference: one step of batch 1 in
    /// candle costs a dozen small tensor allocations, in plain loops it costs none.
    plain: Plain,
}

/// One layer's weights for inference: gate rows (input, forget, cell, output) of `w_ih`
/// (4·hidden × input) and `w_hh` (4·hidden × hidden), row-major, and their summed biases.
struct PlainLayer {
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias: Vec<f32>,
    input: usize,
}

/// All weights for inference.
struct Plain {
    layers: Vec<PlainLayer>,
    head_weight: Vec<f32>,
    head_bias: Vec<f32>,
}

/// A dot product over eight running sums, so the compiler can keep them in one vector
/// register (a single running sum must add in order, which forbids that): about 3x faster
/// on the gate rows, and the order of additions is still fixed, so results are reproducible.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut sums = [0.0f32; LANES];
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((sum, x), y) in sums.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    sums.iter().sum::<f32>() + tail
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One series' streaming state: the layers' states and the forecast of its next row.
#[derive(Debug, Clone)]
pub struct StreamState {
    /// Per layer, the hidden and cell vectors.
    states: Vec<(Vec<f32>, Vec<f32>)>,
    forecast: Option<Vec<f32>>,
    /// Rows stepped so far (the first few forecasts come from little context).
    pub steps: usize,
}

impl StreamState {
    /// The forecast of the series' next row, once a row has been seen.
    pub fn forecast(&self) -> Option<&[f32]> {
        self.forecast.as_deref()
    }
}

/// Two stream states of one series that restart in turn, so that every forecast rests on a
/// bounded, recent stretch of the series.
///
/// Half 0 restarts whenever the step (the row's minute) crosses a multiple of the period,
/// half 1 half a period later; a row is judged by the older half. A forecast therefore rests
/// on at least half a period and at most one row less than a period of rows: the kind of
/// context the network was trained on (windows that start from a zero state), and a state
/// that a restarted job rebuilds exactly by replaying the last `period - 1` rows. A
/// continuous state would hold the whole series since the job started, which no replay can
/// reproduce.
#[derive(Debug, Clone)]
pub struct StaggeredState {
    period: i64,
    /// Per half: the period it started in (counted from its offset), and its state.
    halves: [Option<(i64, StreamState)>; 2],
}

impl StaggeredState {
    /// No rows yet; halves restart every `period` steps (at least 2).
    pub fn new(period: usize) -> Self {
        StaggeredState {
            period: period.max(2) as i64,
            halves: [None, None],
        }
    }

    /// The first step of `half`'s current period at `step`.
    fn period_start(&self, half: usize, step: i64) -> i64 {
        let offset = half as i64 * (self.period / 2);
        (step - offset).div_euclid(self.period) * self.period + offset
    }
}

/// Names and shapes of every weight, in PyTorch's layout.
fn parameter_shapes(features: usize, hidden: usize, layers: usize) -> Vec<(String, Vec<usize>)> {
    let mut shapes = Vec::new();
    for layer in 0..layers {
        let input = if layer == 0 { features } else { hidden };
        let prefix = format!("lstm{layer}");
        shapes.push((
            format!("{prefix}.weight_ih_l{layer}"),
            vec![4 * hidden, input],
        ));
        shapes.push((
            format!("{prefix}.weight_hh_l{layer}"),
            vec![4 * hidden, hidden],
        ));
        shapes.push((format!("{prefix}.bias_ih_l{layer}"), vec![4 * hidden]));
        shapes.push((format!("{prefix}.bias_hh_l{layer}"), vec![4 * hidden]));
    }
    shapes.push(("head.weight".into(), vec![features, hidden]));
    shapes.push(("head.bias".into(), vec![features]));
    shapes
}

impl Forecaster {
    /// A new network with seeded weights.
    pub fn new(
        features: usize,
        hidden: usize,
        layers: usize,
        seed: u64,
    ) -> Result<Self, NetworkError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bound = 1.0 / (hidden as f32).sqrt();
        let tensors = parameter_shapes(features, hidden, layers)
            .into_iter()
            .map(|(name, shape)| {
                let count = shape.iter().product();
                let values: Vec<f32> = (0..count)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect();
                Tensor::from_vec(values, shape, &Device::Cpu).map(|t| (name, t))
            })
            .collect::<Result<HashMap<_, _>, _>>()?;
        Self::from_tensors(tensors, features, hidden, layers)
    }

    /// A network from named weights (as [`Self::tensors`] gives them).
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        features: usize,
        hidden: usize,
        layers: usize,
    ) -> Result<Self, NetworkError> {
        let variables = VarMap::new();
        {
            let mut data = variables
                .data()
                .lock()
                .map_err(|_| NetworkError::Poisoned)?;
            for (name, shape) in parameter_shapes(features, hidden, layers) {
                let tensor = tensors
                    .get(&name)
                    .ok_or_else(|| NetworkError::MissingWeight(name.clone()))?;
                if tensor.dims() != shape.as_slice() {
                    return Err(NetworkError::Shape {
                        name,
                        found: tensor.dims().to_vec(),
                        expected: shape,
                    });
                }
                let tensor = tensor.to_dtype(DType::F32)?;
                data.insert(name, candle_core::Var::from_tensor(&tensor)?);
            }
        }
        let builder = VarBuilder::from_varmap(&variables, DType::F32, &Device::Cpu);
        let layers = (0..layers)
            .map(|layer| {
                let input = if layer == 0 { features } else { hidden };
                let config = LSTMConfig {
                    layer_idx: layer,
                    ..Default::default()
                };
                candle_nn::rnn::lstm(input, hidden, config, builder.pp(format!("lstm{layer}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let head = candle_nn::linear(hidden, features, builder.pp("head"))?;
        let mut forecaster = Forecaster {
            layers,
            head,
            features,
            hidden,
            variables,
            plain: Plain {
                layers: Vec::new(),
                head_weight: Vec::new(),
                head_bias: Vec::new(),
            },
        };
        forecaster.refresh_plain()?;
        Ok(forecaster)
    }

    /// Copies the current weights into the plain inference copy.
    fn refresh_plain(&mut self) -> Result<(), NetworkError> {
        let tensors = self.tensors()?;
        let get = |name: String| {
            tensors
                .get(&name)
                .cloned()
                .ok_or(NetworkError::MissingWeight(name))
        };
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in 0..self.layers.len() {
            let prefix = format!("lstm{layer}");
            let b_ih = get(format!("{prefix}.bias_ih_l{layer}"))?;
            let b_hh = get(format!("{prefix}.bias_hh_l{layer}"))?;
            layers.push(PlainLayer {
                w_ih: get(format!("{prefix}.weight_ih_l{layer}"))?,
                w_hh: get(format!("{prefix}.weight_hh_l{layer}"))?,
                bias: b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect(),
                input: if layer == 0 {
                    self.features
                } else {
                    self.hidden
                },
            });
        }
        self.plain = Plain {
            layers,
            head_weight: get("head.weight".into())?,
            head_bias: get("head.bias".into())?,
        };
        Ok(())
    }

    /// The weights by name (f32), for saving.
    pub fn tensors(&self) -> Result<BTreeMap<String, Vec<f32>>, NetworkError> {
        let data = self
            .variables
            .data()
            .lock()
            .map_err(|_| NetworkError::Poisoned)?;
        data.iter()
            .map(|(name, var)| {
                let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                Ok((name.clone(), values))
            })
            .collect::<Result<_, candle_core::Error>>()
            .map_err(NetworkError::from)
    }

    /// The weights' names and shapes.
    pub fn shapes(&self, layers: usize) -> Vec<(String, Vec<usize>)> {
        parameter_shapes(self.features, self.hidden, layers)
    }

    /// Forecasts for a batch of sequences (batch, time, features): the prediction of each
    /// next step, same shape.
    fn forward(&self, input: &Tensor) -> candle_core::Result<Tensor> {
        let mut sequence = input.clone();
        for layer in &self.layers {
            let states = layer.seq(&sequence)?;
            sequence = layer.states_to_tensor(&states)?;
        }
        self.head.forward(&sequence)
    }

    /// A fresh streaming state.
    pub fn start(&self) -> Result<StreamState, NetworkError> {
        let zeros = vec![0.0f32; self.hidden];
        let states = vec![(zeros.clone(), zeros); self.layers.len()];
        Ok(StreamState {
            states,
            forecast: None,
            steps: 0,
        })
    }

    /// Feeds one row: returns the squared error of the forecast made for it (None for a
    /// series' first row), then steps the state and forecasts the next row.
    pub fn step(&self, state: &mut StreamState, row: &[f32]) -> Result<Option<f64>, NetworkError> {
        Ok(self.step_with_top(state, row)?.map(|(error, _)| error))
    }

    /// [`Self::step`], also naming the feature the forecast missed most (its index).
    pub fn step_with_top(
        &self,
        state: &mut StreamState,
        row: &[f32],
    ) -> Result<Option<(f64, usize)>, NetworkError> {
        let error = state.forecast.as_ref().map(|forecast| {
            let misses = forecast
                .iter()
                .zip(row)
                .map(|(f, r)| f64::from(f - r).powi(2));
            let top = misses
                .clone()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(i, _)| i);
            (misses.sum::<f64>() / row.len() as f64, top)
        });
        if row.len() != self.features || state.states.len() != self.plain.layers.len() {
            return Err(NetworkError::RowWidth {
                found: row.len(),
                expected: self.features,
            });
        }
        let hidden = self.hidden;
        let mut input = row.to_vec();
        let mut gates = vec![0.0f32; 4 * hidden];
        for (layer, (h, c)) in self.plain.layers.iter().zip(state.states.iter_mut()) {
            for (j, gate) in gates.iter_mut().enumerate() {
                let w_ih = &layer.w_ih[j * layer.input..(j + 1) * layer.input];
                let w_hh = &layer.w_hh[j * hidden..(j + 1) * hidden];
                *gate = layer.bias[j] + dot(w_ih, &input) + dot(w_hh, h);
            }
            for k in 0..hidden {
                let in_gate = sigmoid(gates[k]);
                let forget = sigmoid(gates[hidden + k]);
                let cell = gates[2 * hidden + k].tanh();
                let out = sigmoid(gates[3 * hidden + k]);
                c[k] = forget * c[k] + in_gate * cell;
                h[k] = out * c[k].tanh();
            }
            input.clone_from(h);
        }
        let forecast = (0..self.features)
            .map(|f| {
                let weights = &self.plain.head_weight[f * hidden..(f + 1) * hidden];
                self.plain.head_bias[f] + dot(weights, &input)
            })
            .collect();
        state.forecast = Some(forecast);
        state.steps += 1;
        Ok(error)
    }

    /// Feeds the row of `step` (steps increase along a series) to both halves of `state`,
    /// restarting a half whose period ended; returns the older half's error and most-missed
    /// feature ([`Self::step_with_top`]) and how many rows that half has seen, this one
    /// included.
    pub fn step_staggered(
        &self,
        state: &mut StaggeredState,
        step: i64,
        row: &[f32],
    ) -> Result<(Option<(f64, usize)>, usize), NetworkError> {
        let mut judged = (None, 0);
        let mut oldest = i64::MAX;
        for half in 0..2 {
            let start = state.period_start(half, step);
            let current = state.halves[half].take().filter(|(at, _)| *at == start);
            let (_, mut stream) = match current {
                Some(kept) => kept,
                None => (start, self.start()?),
            };
            let error = self.step_with_top(&mut stream, row)?;
            if start < oldest {
                oldest = start;
                judged = (error, stream.steps);
            }
            state.halves[half] = Some((start, stream));
        }
        Ok(judged)
    }

    /// Trains on `series` (each a run of consecutive rows of one service, scaled), cutting
    /// windows of `config.window + 1` rows with half-window overlap; calls `epoch_done(epoch,
    /// mean loss)` after each pass. Returns the final mean loss.
    pub fn train(
        &mut self,
        series: &[Vec<Vec<f32>>],
        config: &LstmConfig,
        mut epoch_done: impl FnMut(usize, f64),
    ) -> Result<f64, NetworkError> {
        let windows = windows(series, config.window);
        if windows.is_empty() {
            return Err(NetworkError::Settings(format!(
                "no series has {} consecutive rows (the training window plus one)",
                config.window + 1
            )));
        }
        let params = candle_nn::ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: 0.0,
            ..Default::default()
        };
        let mut optimizer = candle_nn::AdamW::new(self.variables.all_vars(), params)?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed);
        let mut order: Vec<usize> = (0..windows.len()).collect();
        let mut last = f64::NAN;
        for epoch in 0..config.epochs {
            order.shuffle(&mut rng);
            let (mut total, mut batches) = (0.0, 0);
            for chunk in order.chunks(config.batch.max(1)) {
                let loss = self.batch_loss(&windows, chunk, config.window)?;
                optimizer.backward_step(&loss)?;
                total += f64::from(loss.to_scalar::<f32>()?);
                batches += 1;
            }
            last = total / batches as f64;
            epoch_done(epoch, last);
        }
        self.refresh_plain()?;
        Ok(last)
    }

    fn batch_loss(
        &self,
        windows: &[&[Vec<f32>]],
        chosen: &[usize],
        window: usize,
    ) -> candle_core::Result<Tensor> {
        let features = self.features;
        let mut inputs = Vec::with_capacity(chosen.len() * window * features);
        let mut targets = Vec::with_capacity(inputs.capacity());
        for index in chosen {
            let rows = windows[*index];
            for row in &rows[..window] {
                inputs.extend_from_slice(row);
            }
            for row in &rows[1..=window] {
                targets.extend_from_slice(row);
            }
        }
        let shape = (chosen.len(), window, features);
        let input = Tensor::from_vec(inputs, shape, &Device::Cpu)?;
        let target = Tensor::from_vec(targets, shape, &Device::Cpu)?;
        let forecast = self.forward(&input)?;
        (forecast - target)?.sqr()?.mean_all()
    }
}

/// Windows of `window + 1` consecutive rows, half-overlapping, from every series.
fn windows(series: &[Vec<Vec<f32>>], window: usize) -> Vec<&[Vec<f32>]> {
    let stride = (window / 2).max(1);
    series
        .iter()
        .filter(|rows| rows.len() > window)
        .flat_map(|rows| {
            (0..=rows.len() - window - 1)
                .step_by(stride)
                .map(move |start| &rows[start..start + window + 1])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two features: a sine and its cosine, with small seeded noise.
    fn series(length: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..length)
            .map(|t| {
                let phase = t as f32 * 0.3;
                vec![
                    phase.sin() + rng.random_range(-0.05..0.05),
                    phase.cos() + rng.random_range(-0.05..0.05),
                ]
            })
            .collect()
    }

    fn small() -> LstmConfig {
        LstmConfig {
            hidden: 16,
            layers: 2,
            window: 20,
            epochs: 30,
            batch: 8,
            learning_rate: 1e-2,
            seed: 3,
        }
    }

    #[test]
    fn learns_a_periodic_series_and_flags_a_break_in_it() {
        let config = small();
        let mut model =
            Forecaster::new(2, config.hidden, config.layers, config.seed).expect("builds");
        let mut losses = Vec::new();
        model
            .train(&[series(400, 1)], &config, |_, loss| losses.push(loss))
            .expect("trains");
        assert!(losses[losses.len() - 1] < losses[0] / 5.0, "{losses:?}");
        let mut state = model.start().expect("state");
        let test = series(200, 2);
        let mut errors = Vec::new();
        for row in &test {
            errors.extend(model.step(&mut state, row).expect("steps"));
        }
        let typical = errors[50..].iter().sum::<f64>() / (errors.len() - 50) as f64;
        let broken = model
            .step(&mut state, &[2.0, -2.0])
            .expect("steps")
            .expect("forecast");
        assert!(broken > 20.0 * typical, "{broken} vs {typical}");
    }

    #[test]
    fn the_same_seed_gives_the_same_weights_and_they_round_trip() {
        let config = LstmConfig {
            epochs: 2,
            ..small()
        };
        let train = || {
            let mut model =
                Forecaster::new(2, config.hidden, config.layers, config.seed).expect("builds");
            model
                .train(&[series(100, 1)], &config, |_, _| {})
                .expect("trains");
            model
        };
        let (a, b) = (train(), train());
        assert_eq!(a.tensors().expect("a"), b.tensors().expect("b"));
        let tensors: HashMap<String, Tensor> = a
            .tensors()
            .expect("a")
            .into_iter()
            .zip(
                a.shapes(config.layers)
                    .into_iter()
                    .collect::<BTreeMap<_, _>>(),
            )
            .map(|((name, values), (_, shape))| {
                (
                    name,
                    Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor"),
                )
            })
            .collect();
        let c = Forecaster::from_tensors(tensors, 2, config.hidden, config.layers).expect("loads");
        let (mut sa, mut sc) = (a.start().expect("s"), c.start().expect("s"));
        for row in series(10, 5) {
            assert_eq!(
                a.step(&mut sa, &row).expect("a"),
                c.step(&mut sc, &row).expect("c")
            );
        }
        let mut wrong = HashMap::new();
        wrong.insert(
            "head.bias".to_string(),
            Tensor::zeros(3, DType::F32, &Device::Cpu).expect("t"),
        );
        assert!(Forecaster::from_tensors(wrong, 2, 16, 2).is_err());
    }

    #[test]
    fn the_streaming_step_forecasts_what_the_training_forward_pass_does() {
        let config = LstmConfig {
            epochs: 3,
            ..small()
        };
        let mut model =
            Forecaster::new(2, config.hidden, config.layers, config.seed).expect("builds");
        model
            .train(&[series(100, 1)], &config, |_, _| {})
            .expect("trains");
        let rows = series(30, 4);
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let input = Tensor::from_vec(flat, (1, rows.len(), 2), &Device::Cpu).expect("tensor");
        let batched = model
            .forward(&input)
            .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
            .expect("forward");
        let mut state = model.start().expect("state");
        for (t, row) in rows.iter().enumerate() {
            model.step(&mut state, row).expect("steps");
            let streamed = state.forecast().expect("forecast");
            for (a, b) in streamed.iter().zip(&batched[t * 2..t * 2 + 2]) {
                assert!((a - b).abs() < 1e-4, "step {t}: {a} vs {b}");
            }
        }
        assert!(model.step(&mut state, &[1.0]).is_err());
    }
}
