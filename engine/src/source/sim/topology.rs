//! Service call graphs for the simulator: a fan-out shop and a chain-heavy TrainTicket.

use rand::Rng;

use super::rng::rng_for;
use crate::config::Shape;

/// One operation a service serves.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Span name, e.g. `GET /cart`.
    pub name: String,
    /// Median own processing time, ms.
    pub median_ms: f64,
    /// Log-normal shape parameter.
    pub sigma: f64,
}

/// A downstream call a service makes while serving a request.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// Index of the callee.
    pub callee: usize,
    /// Probability the call happens in a request.
    pub probability: f64,
}

/// One simulated service.
#[derive(Debug, Clone)]
pub struct Service {
    /// `service.name`.
    pub name: String,
    /// Operations it serves.
    pub operations: Vec<Operation>,
    /// Calls it makes, in order.
    pub calls: Vec<Call>,
    /// A database it queries on every request (`db.system`), if any.
    pub database: Option<&'static str>,
}

/// A call DAG: service 0 is the entry; every edge points from a lower to a higher index.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The services.
    pub services: Vec<Service>,
}

const SHOP_NAMES: &[&str] = &[
    "frontend",
    "cart",
    "catalog",
    "checkout",
    "payment",
    "shipping",
    "email",
    "currency",
    "recommendation",
    "ad",
    "quote",
    "inventory",
    "user",
    "auth",
    "review",
    "search",
    "pricing",
    "notification",
    "fraud",
    "tax",
];
const TRAINTICKET_NAMES: &[&str] = &[
    "ts-ui-dashboard",
    "ts-travel-service",
    "ts-route-service",
    "ts-station-service",
    "ts-train-service",
    "ts-seat-service",
    "ts-order-service",
    "ts-price-service",
    "ts-basic-service",
    "ts-config-service",
    "ts-preserve-service",
    "ts-user-service",
    "ts-auth-service",
    "ts-contacts-service",
    "ts-food-service",
    "ts-consign-service",
    "ts-security-service",
    "ts-payment-service",
    "ts-inside-payment-service",
    "ts-cancel-service",
    "ts-execute-service",
    "ts-notification-service",
    "ts-assurance-service",
    "ts-travel-plan-service",
    "ts-route-plan-service",
    "ts-rebook-service",
    "ts-ticket-office-service",
    "ts-voucher-service",
    "ts-verification-code-service",
    "ts-admin-basic-info-service",
];

fn name(shape: Shape, index: usize) -> String {
    let names = match shape {
        Shape::Shop => SHOP_NAMES,
        Shape::Trainticket => TRAINTICKET_NAMES,
    };
    match names.get(index) {
        Some(name) => name.to_string(),
        None if shape == Shape::Shop => format!("svc-{index}"),
        None => format!("ts-svc-{index}-service"),
    }
}

impl Topology {
    /// Generates `count` services of the given shape, deterministically from `seed`.
    pub fn generate(shape: Shape, count: usize, seed: u64) -> Topology {
        let mut rng = rng_for(seed, 0x70b0, count as u64, shape as u64);
        let mut services: Vec<Service> = (0..count)
            .map(|i| {
                let short = name(shape, i)
                    .trim_start_matches("ts-")
                    .trim_end_matches("-service")
                    .to_string();
                let operations = (0..rng.random_range(1..=3))
                    .map(|k| Operation {
                        name: [
                            format!("GET /{short}"),
                            format!("POST /{short}"),
                            format!("GET /{short}/{{id}}"),
                        ][k]
                            .clone(),
                        median_ms: rng.random_range(2.0..25.0),
                        sigma: rng.random_range(0.25..0.6),
                    })
                    .collect();
                Service {
                    name: name(shape, i),
                    operations,
                    calls: Vec::new(),
                    database: None,
                }
            })
            .collect();
        for callee in 1..count {
            let parent = match shape {
                Shape::Shop => rng.random_range(0..callee.min(1 + count / 4)),
                Shape::Trainticket => rng.random_range(callee.saturating_sub(3)..callee),
            };
            let probability = match shape {
                Shape::Shop => rng.random_range(0.4..0.95),
                Shape::Trainticket => rng.random_range(0.75..1.0),
            };
            services[parent].calls.push(Call {
                callee,
                probability,
            });
            // A few extra edges make it a DAG rather than a tree.
            if callee > 2 && rng.random_bool(0.12) {
                let other = rng.random_range(1..callee);
                if other != parent {
                    services[other].calls.push(Call {
                        callee,
                        probability: 0.3,
                    });
                }
            }
        }
        for service in services.iter_mut().skip(1) {
            if rng.random_bool(0.35) {
                service.database = Some(match shape {
                    Shape::Shop => ["postgresql", "redis"][rng.random_range(0..2)],
                    Shape::Trainticket => "mongodb",
                });
            }
        }
        Topology { services }
    }

    /// Index of the service with this name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// Expected number of requests each service serves per entry request.
    pub fn visits_per_request(&self) -> Vec<f64> {
        let mut visits = vec![0.0; self.services.len()];
        if let Some(first) = visits.first_mut() {
            *first = 1.0;
        }
        // Edges go from lower to higher index, so one pass in index order is a topological pass.
        for index in 0..self.services.len() {
            for call in &self.services[index].calls {
                visits[call.callee] += visits[index] * call.probability;
            }
        }
        visits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_differ_in_depth_and_every_service_is_reachable() {
        let depth = |topology: &Topology| {
            let mut depth = vec![0usize; topology.services.len()];
            for (i, service) in topology.services.iter().enumerate() {
                for call in &service.calls {
                    depth[call.callee] = depth[call.callee].max(depth[i] + 1);
                }
            }
            depth.into_iter().max().unwrap_or(0)
        };
        let shop = Topology::generate(Shape::Shop, 30, 7);
        let chain = Topology::generate(Shape::Trainticket, 30, 7);
        assert!(
            depth(&chain) > depth(&shop) + 2,
            "{} vs {}",
            depth(&chain),
            depth(&shop)
        );
        for topology in [&shop, &chain] {
            assert!(topology.visits_per_request().iter().all(|v| *v > 0.0));
        }
        assert_eq!(chain.services[1].name, "ts-travel-service");
    }
}
