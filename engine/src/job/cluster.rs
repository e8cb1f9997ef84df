//! Where the workers run: threads of one process, or timely's cluster mode over processes.

use std::path::PathBuf;

use timely::communication::Config as CommunicationConfig;
use timely::WorkerConfig;

use crate::error::{Error, Result};

/// Where the workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Worker threads per process.
    pub workers: usize,
    /// Number of processes.
    pub processes: usize,
    /// This process's index.
    pub process: usize,
    /// File with one `host:port` per line, one per process (required when processes > 1).
    pub hostfile: Option<PathBuf>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            workers: 1,
            processes: 1,
            process: 0,
            hostfile: None,
        }
    }
}

impl ClusterOptions {
    /// The timely configuration.
    pub fn timely_config(&self) -> Result<timely::Config> {
        let workers = self.workers.max(1);
        let communication = if self.processes > 1 {
            CommunicationConfig::Cluster {
                threads: workers,
                process: self.process,
                addresses: self.addresses()?,
                report: false,
                zerocopy: false,
            }
        } else if workers > 1 {
            CommunicationConfig::Process(workers)
        } else {
            CommunicationConfig::Thread
        };
        Ok(timely::Config {
            communication,
            worker: WorkerConfig::default(),
        })
    }

    /// The processes' addresses from the hostfile, one per process.
    fn addresses(&self) -> Result<Vec<String>> {
        let hostfile = self
            .hostfile
            .as_ref()
            .ok_or_else(|| Error::Config("--hostfile is required with --processes > 1".into()))?;
        let text = std::fs::read_to_string(hostfile).map_err(|e| Error::io(hostfile, e))?;
        let addresses: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if addresses.len() != self.processes || self.process >= self.processes {
            return Err(Error::Config(format!(
                "{}: {} addresses for --processes {} and --process {}",
                hostfile.display(),
                addresses.len(),
                self.processes,
                self.process
            )));
        }
        Ok(addresses)
    }
}
