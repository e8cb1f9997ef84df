//! How a long evaluation reports progress: the binary draws it as a progress bar, tests pass
//! [`Quiet`].

/// A progress display of counted steps.
pub trait Progress {
    /// A new stage of `total` steps, titled `what`.
    fn start(&self, total: u64, what: &str);
    /// Says what the current step is.
    fn message(&self, text: String);
    /// One step done.
    fn step(&self);
    /// The stage is over; the display clears.
    fn finish(&self);
}

/// No display.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: u64, _: &str) {}
    fn message(&self, _: String) {}
    fn step(&self) {}
    fn finish(&self) {}
}
