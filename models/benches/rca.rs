//! Ranking one incident window on a 200-service graph, per method (the GNN included).

use aiops_models::rca::gnn::{Gnn, GnnConfig};
use aiops_models::rca::{
    method, CallEdge, CallGraph, Deviation, RootCauseRanker, ServiceEvidence, METHODS,
};
use criterion::{criterion_group, criterion_main, Criterion};

/// A layered call graph: `services` services, each calling three in the next layer, and a
/// window in which one deep service and its callers deviate.
fn window(services: usize) -> (CallGraph, Vec<ServiceEvidence>) {
    let name = |i: usize| format!("service-{i:03}");
    let mut edges = Vec::new();
    for i in 0..services {
        for k in 1..=3 {
            let callee = (i * 3 + k) % services;
            if callee > i {
                edges.push(CallEdge::new(&name(i), &name(callee), 100, 1, Some(12.0)));
            }
        }
    }
    let evidence = (0..services)
        .map(|i| ServiceEvidence {
            service: name(i),
            deviations: (0..12)
                .map(|f| Deviation {
                    feature: format!("feature_{f}"),
                    z: ((i * 7 + f * 3) % 11) as f64 / 4.0 + if i % 40 == 7 { 6.0 } else { 0.0 },
                })
                .collect(),
            anomalous: i % 40 == 7,
            ..Default::default()
        })
        .collect();
    (CallGraph::new(&edges, std::iter::empty::<&str>()), evidence)
}

fn rank_200_services(c: &mut Criterion) {
    let (graph, evidence) = window(200);
    let mut group = c.benchmark_group("rank_200_services");
    for name in METHODS {
        let ranker = method(name).expect("known method");
        group.bench_function(name, |b| b.iter(|| ranker.rank(&graph, &evidence)));
    }
    // The GNN's cost does not depend on its weights: an untrained network of the default shape.
    let config = GnnConfig::default();
    let gnn = Gnn::new(config.hidden, config.layers, 0).expect("network");
    group.bench_function("gnn", |b| b.iter(|| gnn.rank(&graph, &evidence)));
    group.finish();
}

criterion_group!(benches, rank_200_services);
criterion_main!(benches);
