//! Every command counted by aggregate, command and outcome, and timed.

use super::{CommandError, Dispatched};

/// Runs a command, counting it by aggregate, command and outcome, and timing it.
pub(super) async fn measured<E>(
    aggregate: &'static str,
    command: &'static str,
    run: impl Future<Output = Result<Dispatched<E>, CommandError>>,
) -> Result<Dispatched<E>, CommandError> {
    let started = std::time::Instant::now();
    let result = run.await;
    let outcome = match &result {
        Ok(done) if done.receipt.replayed => "replayed",
        Ok(_) => "accepted",
        Err(CommandError::Rejected(_)) => "rejected",
        Err(CommandError::VersionConflict { .. }) => "conflict",
        Err(CommandError::IdempotencyKeyReused) => "key_reused",
        Err(CommandError::Store(_)) => "failed",
    };
    metrics::counter!("eventmall_commands_total",
        "aggregate" => aggregate, "command" => command, "outcome" => outcome)
    .increment(1);
    metrics::histogram!("eventmall_command_duration_seconds",
        "aggregate" => aggregate, "command" => command)
    .record(started.elapsed().as_secs_f64());
    result
}
