//! `aiops topics`: create the Kafka topics the job reads and writes.

use aiops_engine::source::kafka::{create_topics, partition_counts};
use clap::Args;

use super::settings::SimArgs;

/// Options of `aiops topics`.
#[derive(Args, Debug)]
#[command(
    after_help = "Creates the topics under [kafka] in the configuration (otlp_spans, otlp_metrics, otlp_logs by \
default) and the dead-letter topic (otlp_dead_letter) where they do not exist yet, then lists every topic's \
partition count. Idempotent. Partitions bound the job's parallelism: they are spread over all workers of all processes."
)]
pub struct TopicsArgs {
    /// Configuration file (its kafka section names the topics and client options).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Kafka bootstrap servers (default: kafka.brokers of the config).
    #[arg(long, value_name = "BROKERS")]
    brokers: Option<String>,
    /// Partitions of each new topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Replicas of each new topic.
    #[arg(long, default_value_t = 1)]
    replication: i32,
}

/// Creates the missing topics and reports the layout.
pub fn run(args: TopicsArgs) -> anyhow::Result<()> {
    let settings = SimArgs {
        config: args.config,
        ..Default::default()
    };
    let mut config = settings.load()?.kafka;
    if let Some(brokers) = args.brokers {
        config.brokers = brokers;
    }
    let created = create_topics(&config, args.partitions, args.replication)?;
    for topic in &created {
        println!("created {topic}");
    }
    for (topic, partitions) in partition_counts(&config)? {
        println!("{topic}: {partitions} partitions");
    }
    Ok(())
}
