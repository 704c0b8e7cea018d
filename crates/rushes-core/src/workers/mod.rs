//! Background workers: webhook delivery, deletion requests and garbage collection of media objects.

pub mod deletion;
pub mod delivery;
pub mod gc;

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Store;

impl Store {
    /// Starts the background workers on the current runtime; they stop when `shutdown`
    /// turns true. Await the handles for a clean stop.
    pub fn start_workers(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(delivery::run(self.clone(), shutdown.clone())),
            tokio::spawn(deletion::run(self.clone(), shutdown)),
        ]
    }
}
