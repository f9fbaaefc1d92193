//! `dedupd verify [--repair]`: checks a store's invariants and repairs what a crash left half-done
//! (see [`crate::store::verify`]). It opens the store itself, with the server's flags and variables:
//! an embedded store only while no server holds its data directory.

use std::path::PathBuf;
use std::time::Duration;

use crate::store::verify::{self, Options};

/// `dedupd verify`: which store, and whether to repair.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Store URL, as `serve --store` takes it.
    #[arg(long, env = "DEDUPD_STORE", default_value = "embedded://")]
    pub store: String,
    /// Directory of the embedded store.
    #[arg(long, env = "DEDUPD_DATA_DIR", default_value = "./dedupd-data")]
    pub data_dir: PathBuf,
    /// Key prefix of a Redis store (`dedupd` when not set).
    #[arg(long, env = "DEDUPD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Repair what a crash can leave half-done, then check again.
    #[arg(long)]
    pub repair: bool,
    /// Unassigned articles ingested within this long are ingests in progress on a running server,
    /// not problems: `0s` when no server is running. (The embedded store has none in progress.)
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub in_flight: Duration,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dedupd verify`: fails (exit 1) when a problem is found and not repaired.
pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let store = verify::open(&args.store, &args.data_dir, args.namespace.as_deref()).await?;
    let (found, repaired, left) = if args.repair {
        let outcome = verify::repair(store.as_ref(), args.in_flight).await?;
        (outcome.found, Some(outcome.repaired), outcome.left)
    } else {
        let report = verify::verify(store.as_ref(), Options::new(args.in_flight)).await?;
        (report.clone(), None, report)
    };
    if args.json {
        let json = serde_json::json!({ "found": found, "repaired": repaired, "left": left });
        println!("{json}");
    } else {
        print!("{found}");
        if let Some(repaired) = repaired {
            println!("repaired {repaired}; checked again:");
            print!("{left}");
        }
    }
    if left.problems.is_empty() {
        return Ok(());
    }
    let what = if args.repair { "left after repair" } else { "found (dedupd verify --repair fixes what a crash left)" };
    anyhow::bail!("{} problems {what}", left.problems.len())
}
