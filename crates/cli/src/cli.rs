//! Command-line arguments.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ripcord",
    version = crate::VERSION,
    about = "A migration safety net: checkpoint, capture, guard, roll back with zero data loss, prove it."
)]
#[command(
    after_help = "Exit codes: 0 success · 1 internal error · 2 usage or plan error · 3 verification failed, data gap found or check NO-GO · 4 stopped or rolled back · 5 locked by another operator · 6 rollback not approved, nothing changed"
)]
pub struct Cli {
    /// The plan file. Default: ripcord.toml in this directory or the nearest one above it.
    #[arg(long, global = true, env = "RIPCORD_PLAN")]
    pub plan: Option<PathBuf>,
    /// More detail in the log file (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on the console: no event timeline (results still go to stdout).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Who is acting (recorded in the audit log). Default: $RIPCORD_ACTOR, then $USER.
    #[arg(long = "as", global = true)]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Tell the whole story on an embedded SQLite database, in a temporary folder.
    Demo {
        /// Keep the demo folder instead of deleting it.
        #[arg(long)]
        keep: bool,
        /// Run the story on this (empty) database instead of a temporary SQLite file:
        /// postgres://… or mysql://….
        #[arg(long)]
        url: Option<String>,
        /// Which story: the Workshop's restore-based rollback, or the parallel universe
        /// (cutover, live sync back to legacy, a red rule, rollback by switch; SQLite).
        #[arg(long, default_value = "workshop", value_parser = ["workshop", "parallel-universe"])]
        story: String,
    },
    /// Write an example plan.
    Init {
        #[arg(long, default_value = "workshop", value_parser = ["workshop", "payroll", "erp-mariadb-to-postgres", "guarded-payroll-postgres", "switches"])]
        example: String,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Go/no-go: plan, databases, tables, invariants, checkpoints (age), capture, locks.
    /// Creates nothing (without --rehearse).
    Check {
        /// Also restore each component's newest checkpoint into scratch objects, time it
        /// against the recovery-time target, verify it and drop it (over target: NO-GO).
        #[arg(long)]
        rehearse: bool,
        /// JSON: the decision and every item (docs/json.md).
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Markdown, for a change ticket.
        #[arg(long)]
        markdown: bool,
    },
    /// Create every object ripcord needs in the plan's databases (capture, checkpoint, run
    /// and rollback also do it when they must).
    Install {
        /// Only this plan database (repeatable; default: every one).
        #[arg(short, long)]
        database: Vec<String>,
        /// List every object it would create (kind, schema, name) and create nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove every trigger, function, table, index and schema ripcord added. Refuses
    /// (exit 5) while an unfinished rollback, a kept checkpoint or a freeze needs them.
    Uninstall {
        /// Only this plan database (repeatable; default: every one).
        #[arg(short, long)]
        database: Vec<String>,
        /// List every object it would drop and drop nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove even what a rollback or a checkpoint still needs (with --reason; audited).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take a verified checkpoint (turns capture on first).
    Checkpoint {
        /// Components to checkpoint (default: all).
        #[arg(short, long)]
        component: Vec<String>,
    },
    /// List valid checkpoints.
    Checkpoints {
        #[arg(long)]
        json: bool,
    },
    /// List rollbacks: components, state, when, how long, writes at risk / recovered / lost.
    Rollbacks {
        #[arg(long)]
        json: bool,
    },
    /// Delete checkpoints by a retention policy (restic's rules, per component), prune the
    /// journal of entries no kept checkpoint needs, and collect the store's garbage.
    /// Never deletes a checkpoint an unfinished rollback, a gap review or a kept
    /// differential checkpoint needs.
    Prune(crate::retention_cmd::PruneArgs),
    /// Collect the store's garbage: chunks no checkpoint names, and what interrupted
    /// checkpoints left behind (recorded in the audit log).
    Gc {
        /// Print what was collected as JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Change capture: start, stop, status.
    Capture {
        #[arg(value_parser = ["start", "stop", "status"])]
        action: String,
        #[arg(short, long)]
        component: Vec<String>,
    },
    /// Run the plan's steps after a checkpoint; stop on the first failure.
    Run,
    /// Roll components back to a checkpoint, carrying business writes back.
    Rollback(RollbackArgs),
    /// Check invariants, row counts and fingerprints.
    Verify {
        #[arg(short, long)]
        component: Vec<String>,
        /// Compare each table row by row with this plan database, URL or checkpoint id.
        #[arg(long)]
        against: Option<String>,
        /// With --against: a foreign key to check besides the declared ones, child(col)->parent(col).
        #[arg(long)]
        fk: Vec<String>,
        /// JSON instead of tables (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Compare a table between two databases or a checkpoint, row by row.
    Diff(crate::diff_cmd::DiffArgs),
    /// Data gaps of the newest (or given) rollback.
    Gaps {
        rollback: Option<String>,
        /// Rows changed by both the migration and a business write, where the legacy value
        /// was kept over a value the business write left in place.
        #[arg(long)]
        review: bool,
        #[arg(long)]
        json: bool,
    },
    /// The report of a rollback.
    Report {
        rollback: Option<String>,
        /// md: the whole report; console: verdict, timeline against the target, figures;
        /// html: one self-contained file with charts (md and html: --lang en or ar).
        #[arg(long, default_value = "md", value_parser = ["md", "json", "console", "html"])]
        format: String,
        /// Language of the markdown and HTML report and the post-mortem: en or ar.
        #[arg(long, default_value = "en", value_parser = ["en", "ar"])]
        lang: String,
        /// Across every rollback: success rate, time against target per tier (emergency
        /// 15 min, component 60 min, graceful 4 h), recovery rate, thresholds crossed.
        #[arg(long, conflicts_with = "rollback")]
        kpis: bool,
        /// The post-mortem instead (same as `ripcord postmortem`; --format md or html).
        #[arg(long, conflicts_with = "kpis")]
        postmortem: bool,
        /// Same as --format json.
        #[arg(long)]
        json: bool,
    },
    /// The audit log: show, verify, export (JSON Lines).
    Audit {
        #[arg(value_parser = ["show", "verify", "export"])]
        action: String,
        /// With show: a JSON array of entries.
        #[arg(long)]
        json: bool,
    },
    /// The event log: every event of every command, in order, from the state store.
    Events {
        /// Only events after this sequence number (the `seq` of the last one you read).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Keep printing new events as they are appended, until interrupted.
        #[arg(long)]
        follow: bool,
        /// JSON Lines: one envelope (seq, at, severity, subject, event) per line.
        #[arg(long)]
        json: bool,
    },
    /// Emergency stop of the running run or watch, from any terminal.
    ///
    /// The running ripcord halts its step, then acts per the decision matrix: the
    /// `manual_stop` scenario (or --scenario) decides whether it rolls back at once (the
    /// default), waits for an approver, or fixes forward. --no-rollback halts without
    /// rolling back (the `manual_halt` scenario: fix forward).
    Stop {
        /// Why (recorded in the audit log and the report).
        #[arg(long)]
        reason: Option<String>,
        /// The decision-matrix scenario that applies (default: manual_stop).
        #[arg(long)]
        scenario: Option<String>,
        /// Halt without rolling back (the manual_halt scenario).
        #[arg(long, conflicts_with = "scenario")]
        no_rollback: bool,
        /// Seconds to wait for the running ripcord to confirm the stop.
        #[arg(long, default_value_t = 10.0)]
        wait: f64,
    },
    /// Guard without steps: probes and rules during a parallel-run period.
    Watch {
        /// Stop watching after this long (e.g. "30m"); default: until stopped. Components
        /// with `checkpoint_every` are checkpointed on schedule meanwhile.
        #[arg(long = "for")]
        for_: Option<String>,
    },
    /// Sample every probe and pin median and p95 as the pre-migration baseline.
    Baseline {
        /// Samples per probe (default: the plan's [guard] baseline_samples).
        #[arg(long)]
        samples: Option<usize>,
    },
    /// The whole picture: capture per table, unfinished rollbacks, locks, the newest
    /// checkpoint, the guard's level, probes, open decisions, the current run.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Approve the rollback a run is waiting for (as --as NAME).
    Approve { run: String },
    /// Reject the rollback a run is waiting for: fix forward (as --as NAME).
    Reject { run: String },
    /// The dashboard (live over server-sent events), /metrics for Prometheus, and the
    /// guarded emergency stop, approve and reject (tokens per person from
    /// RIPCORD_DASHBOARD_TOKENS="alice=TOKEN,bob=TOKEN"; docs/dashboard.md).
    Serve(crate::serve::ServeArgs),
    /// A post-mortem of a rollback, pre-filled from its record and the event log, with the
    /// sections to complete (five whys, lessons, remediation plan).
    Postmortem {
        rollback: Option<String>,
        #[arg(long, default_value = "md", value_parser = ["md", "html"])]
        format: String,
        /// Language of the words: en or ar.
        #[arg(long, default_value = "en", value_parser = ["en", "ar"])]
        lang: String,
    },
    /// Print a shell completion script: ripcord completions bash > /etc/bash_completion.d/ripcord
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): ripcord man > ripcord.1
    Man,
    /// Traffic switches: status, to-new, to-legacy.
    Switch(crate::switch_cmd::SwitchArgs),
    /// Notifications: run the notifier, send a test message, show the outbox.
    Notify(crate::notify_cmd::NotifyArgs),
    /// Acknowledge an incident as --as NAME: stops the reminders to your escalation level
    /// and its escalation to the next (audited).
    Ack {
        incident: String,
        /// The level acknowledged (default: the level NAME is a recipient of).
        #[arg(long)]
        level: Option<u32>,
    },
    /// Incidents: opened by a red level, an emergency stop or a rollback; their level,
    /// acknowledgements and messages.
    Incidents {
        #[arg(long)]
        json: bool,
    },
    /// Continuous reverse sync after a cutover: start (foreground loop), status, stop,
    /// pause, resume.
    Sync(crate::sync_cmd::SyncArgs),
    /// Move components to the new side: precheck, freeze legacy, verify both sides agree,
    /// flip the switches, start the sync. Persisted and resumable (--resume).
    Cutover(crate::sync_cmd::CutoverArgs),
}

#[derive(clap::Args)]
pub struct RollbackArgs {
    #[arg(short, long)]
    pub component: Vec<String>,
    /// Checkpoint id (default: the newest covering each component).
    #[arg(long)]
    pub to: Option<String>,
    /// Continue an interrupted rollback: the one named, or the newest unfinished one.
    #[arg(long, value_name = "ROLLBACK", num_args = 0..=1)]
    pub resume: Option<Option<String>>,
    /// Give up an unfinished rollback (needs --reason); audited.
    #[arg(long, value_name = "ROLLBACK", conflicts_with_all = ["resume", "dry_run"])]
    pub abandon: Option<String>,
    /// Roll back although capture was broken since the checkpoint (needs --reason); the
    /// report then says writes may be missing, in unknown number.
    #[arg(long)]
    pub accept_uncaptured: bool,
    /// Print what would happen and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Approve without a prompt (recorded as approved by --as).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Why (recorded in the audit log and the report).
    #[arg(long)]
    pub reason: Option<String>,
}
