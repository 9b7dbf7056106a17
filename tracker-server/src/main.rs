//! `tracker-server`: serve the API, migrate, manage users and tokens, import, back up, demo.

/// The memory allocator: mimalloc rather than the C library's. Under load the server
/// allocates and frees on many threads at once (page buffers, HTTP bodies, JSON); the C
/// library's allocator spent a fifth of the processor time of a where-is lookup in its own
/// bookkeeping and kept freed memory per thread (docs/benchmarks.md, "Many readers").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use tracker_server::{
    app::{users, AppState},
    audit,
    auth::{self, Principal, Role},
    config::Config,
    demo,
    ledger::import::{self, ImportOutcome},
    storage::{self, Db},
};

#[derive(Parser)]
#[command(
    name = "tracker-server",
    version,
    about = "Casenote Tracker: where every paper case-note folder is"
)]
struct Cli {
    /// Configuration file (TOML). Environment variables CASENOTE_* override it.
    #[arg(long, short, global = true, env = "CASENOTE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the API until stopped (Ctrl-C or SIGTERM).
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage API tokens for bridges and printers.
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// Import a case-note index from CSV; nothing is imported unless every row is valid.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Where to write the per-row error report (CSV) if rows are refused.
        #[arg(long, default_value = "import-errors.csv")]
        report: PathBuf,
    },
    /// Copy the live database to a new file (SQLite online backup; safe while serving).
    Backup {
        /// The new file to write.
        to: PathBuf,
    },
    /// Check the audit log's hash chain from the first row to the last.
    AuditVerify,
    /// Write the Caldicott guardian's privacy report for one Monday-to-Sunday week (local time)
    /// as CSV or PDF, for a weekly cron job. Writing it is recorded in the audit log.
    PrivacyReport {
        /// Any day of the week to report (YYYY-MM-DD). Default: the last full week.
        #[arg(long)]
        week: Option<chrono::NaiveDate>,
        /// csv or pdf.
        #[arg(long, value_enum, default_value_t = FileFormat::Csv)]
        format: FileFormat,
        /// The file to write. Default: privacy-report-<monday>-<sunday>.<csv|pdf> here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Requests for notes.
    Requests {
        #[command(subcommand)]
        cmd: RequestsCmd,
    },
    /// Run a demonstration hospital on localhost with demo data and sign-ins.
    Demo {
        /// Start again with a fresh demo database.
        #[arg(long)]
        reset: bool,
        /// Patients to create.
        #[arg(long, default_value_t = 3000)]
        patients: usize,
        /// Create the data and exit without serving (for scripts and tests).
        #[arg(long)]
        no_serve: bool,
    },
}

/// The kind of file a report is written as.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FileFormat {
    Csv,
    Pdf,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user. The password is read from standard input, or from the variable named by --password-env.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// porter, library, clinician, records_manager or admin.
        #[arg(long, value_parser = RoleArg)]
        role: Role,
        /// Name of an environment variable holding the password (for scripts).
        #[arg(long)]
        password_env: Option<String>,
    },
    /// List users, their roles and whether they are active.
    List,
    /// Disable a user: they cannot sign in, and their open sessions end at once.
    Disable {
        #[arg(long)]
        username: String,
        /// Why (written to the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Set a new password (read from standard input, or from --password-env); the user's
    /// open sessions end.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Change a user's role; their open sessions end.
    SetRole {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = RoleArg)]
        role: Role,
    },
    /// Record a user's family name and the locations they work at, for the privacy report
    /// (replaces what was recorded; give no --location to clear the locations).
    SetProfile {
        #[arg(long)]
        username: String,
        /// The user's family name (empty: not recorded).
        #[arg(long, default_value = "")]
        family_name: String,
        /// A location code the user works at (repeat for each).
        #[arg(long = "location")]
        locations: Vec<String>,
    },
}

#[derive(Subcommand)]
enum RequestsCmd {
    /// Sweep for stale requests once (the server also does this every
    /// `[requests] stale_check_secs`): escalate routine requests not delivered after
    /// `escalate_after_working_days` working days, and close requests for clinics that have
    /// passed. Prints what it did.
    Sweep,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token; it is printed once and stored only as a hash.
    Create {
        #[arg(long)]
        name: String,
        /// device (bridges, printers) or a person's role.
        #[arg(long, default_value = "device", value_parser = RoleArg)]
        role: Role,
        /// A device id this token may send as (repeat for each scanner and portal of the
        /// bridge). Without any, each device id is bound to the token on its first use.
        #[arg(long = "device")]
        devices: Vec<String>,
    },
    /// List tokens (names, roles, when created and revoked; never the tokens themselves).
    List,
    /// Revoke a token: it stops working on its next request.
    Revoke {
        #[arg(long)]
        name: String,
        /// Why (written to the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// `--role`: one of the roles (listed in `--help` from [`clap::ValueEnum`]), refused with a
/// sentence that lists them when it is not.
#[derive(Clone)]
struct RoleArg;

impl clap::builder::TypedValueParser for RoleArg {
    type Value = Role;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Role, clap::Error> {
        Role::parse(&value.to_string_lossy())
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n")))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        use clap::ValueEnum;
        Some(Box::new(
            Role::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CASENOTE_LOG")
        .unwrap_or_else(|_| "info,tower_http=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> Result<()> {
    init_logging();
    let cli = Cli::parse();
    let mut cfg = Config::load(cli.config.as_deref())?;
    match cli.cmd {
        Cmd::Serve => {
            let db = open(&cfg)?;
            run_server(db, cfg, None)
        }
        Cmd::Migrate => {
            let db = open(&cfg)?;
            println!(
                "database {} is at schema version {}",
                db.path().display(),
                storage::migrations::CURRENT
            );
            Ok(())
        }
        Cmd::User {
            cmd:
                UserCmd::Add {
                    username,
                    display_name,
                    role,
                    password_env,
                },
        } => {
            let password = read_password(password_env)?;
            let db = open(&cfg)?;
            let new = users::NewUser {
                username: username.clone(),
                display_name,
                role,
                password,
            };
            users::add_user_blocking(&db, &Principal::system(), new)?;
            println!("user {username} added as {}", role.as_str());
            Ok(())
        }
        Cmd::User { cmd: UserCmd::List } => {
            let db = open(&cfg)?;
            for u in db.read_blocking(auth::list_users)? {
                println!(
                    "{:<20} {:<16} {:<8} {}",
                    u.username,
                    u.role,
                    if u.active { "active" } else { "disabled" },
                    u.display_name
                );
            }
            Ok(())
        }
        Cmd::User {
            cmd:
                UserCmd::SetProfile {
                    username,
                    family_name,
                    locations,
                },
        } => {
            let db = open(&cfg)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(users::set_profile(
                &db,
                &Principal::system(),
                &username,
                Some(family_name),
                locations,
            ))?;
            println!("user {username}: family name and work locations recorded");
            Ok(())
        }
        Cmd::User { cmd } => {
            let (username, change) = match cmd {
                UserCmd::Disable { username, reason } => {
                    (username, users::AccountChange::Disable { reason })
                }
                UserCmd::Enable { username } => (username, users::AccountChange::Enable),
                UserCmd::ResetPassword {
                    username,
                    password_env,
                } => (
                    username,
                    users::AccountChange::ResetPassword {
                        password: read_password(password_env)?,
                    },
                ),
                UserCmd::SetRole { username, role } => {
                    (username, users::AccountChange::SetRole { role })
                }
                UserCmd::Add { .. } | UserCmd::List | UserCmd::SetProfile { .. } => {
                    unreachable!("handled above")
                }
            };
            let db = open(&cfg)?;
            let what = change.describe();
            users::change_account_blocking(&db, &Principal::system(), &username, change)?;
            println!("user {username}: {what}");
            Ok(())
        }
        Cmd::Token {
            cmd: TokenCmd::List,
        } => {
            let db = open(&cfg)?;
            for t in db.read_blocking(users::list_tokens)? {
                println!(
                    "{:<24} {:<16} created {} {}",
                    t.name,
                    t.role.as_str(),
                    t.created_at,
                    t.revoked_at
                        .map(|r| format!("REVOKED {r}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Cmd::Token {
            cmd: TokenCmd::Revoke { name, reason },
        } => {
            let db = open(&cfg)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(users::revoke_token(
                &db,
                &Principal::system(),
                &name,
                &reason,
            ))?;
            println!("token {name} revoked");
            Ok(())
        }
        Cmd::Token {
            cmd:
                TokenCmd::Create {
                    name,
                    role,
                    devices,
                },
        } => {
            let token = auth::new_token("ct_");
            let db = open(&cfg)?;
            let (t, n) = (token.clone(), name.clone());
            db.write_blocking(move |c| {
                auth::insert_api_token(c, &n, role, &t)?;
                tracker_server::ledger::device_bindings::bind(c, &n, &devices)?;
                audit::record(
                    c,
                    &Principal::system(),
                    "token.create",
                    None,
                    None,
                    &format!("token {n} as {}", role.as_str()),
                )
            })?;
            eprintln!(
                "token {name} ({}) created; it is shown only once:",
                role.as_str()
            );
            println!("{token}");
            Ok(())
        }
        Cmd::Import { file, report } => {
            let db = open(&cfg)?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} checked {pos} rows ({per_sec})")
                    .expect("template"),
            );
            let out = import::import(&db, &Principal::system(), &cfg.identifiers.folder, f, |n| {
                if n % 256 == 0 {
                    bar.set_position(n)
                }
            })?;
            bar.finish_and_clear();
            match out {
                ImportOutcome::Done(r) => {
                    println!(
                        "imported {} folder row(s); {} new patient(s)",
                        r.rows, r.patients_created
                    );
                    Ok(())
                }
                ImportOutcome::Refused(errors) => {
                    let mut w = tracker_server::csv_export::Writer::from_path(&report)?;
                    w.write_record(["line", "field", "message"])?;
                    for e in &errors {
                        w.write_record([e.line.to_string(), e.field.clone(), e.message.clone()])?;
                    }
                    w.flush()?;
                    for e in errors.iter().take(10) {
                        eprintln!("line {}: {}: {}", e.line, e.field, e.message);
                    }
                    bail!(
                        "{} row(s) refused; nothing was imported; full report in {}",
                        errors.len(),
                        report.display()
                    )
                }
            }
        }
        Cmd::Backup { to } => {
            let bar = indicatif::ProgressBar::new(0);
            storage::backup(&cfg.database.path, &to, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            println!(
                "backed up {} to {}",
                cfg.database.path.display(),
                to.display()
            );
            Ok(())
        }
        Cmd::Requests {
            cmd: RequestsCmd::Sweep,
        } => {
            let db = open(&cfg)?;
            let out = tracker_server::app::stale_requests::sweep_blocking(&db, &cfg)?;
            let ids = |v: &[i64]| {
                v.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "escalated {} routine request(s){}; closed {} request(s) whose clinic has passed{}",
                out.escalated.len(),
                if out.escalated.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ids(&out.escalated))
                },
                out.closed_clinic_passed.len(),
                if out.closed_clinic_passed.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", ids(&out.closed_clinic_passed))
                },
            );
            Ok(())
        }
        Cmd::AuditVerify => {
            let mut keys = vec![audit::AuditKey::load(&cfg.audit_key_path())?];
            for p in &cfg.audit.old_key_files {
                keys.push(audit::AuditKey::load(p)?);
            }
            let db = open(&cfg)?;
            let anchors = match std::fs::read_to_string(cfg.audit_anchor_path()) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(e) => return Err(e).context("reading the audit anchor file"),
            };
            let v = db.read_blocking(move |c| {
                let mut v = audit::verify(c, &keys)?;
                v.anchors = audit::check_anchors(c, &anchors)?;
                Ok(v)
            })?;
            println!(
                "audit log intact: {} row(s) verified ({} keyed, {} from before the audit key), {} anchor(s) match",
                v.rows,
                v.rows - v.unkeyed,
                v.unkeyed,
                v.anchors
            );
            Ok(())
        }
        Cmd::PrivacyReport { week, format, out } => {
            tracker_server::util::set_site_timezone(&cfg.server.timezone);
            let db = open(&cfg)?;
            let day = week
                .unwrap_or_else(|| tracker_server::util::site_today() - chrono::Duration::days(7));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (report, file) = rt.block_on(tracker_server::app::privacy::weekly_file(
                &db,
                &cfg.privacy,
                &Principal::system(),
                day,
                format == FileFormat::Pdf,
            ))?;
            let out = out.unwrap_or_else(|| PathBuf::from(&file.filename));
            std::fs::write(&out, &file.body)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "privacy report {} to {}: {} line(s) to review, written to {}",
                report.window.from,
                report.window.to,
                report.lines.len(),
                out.display()
            );
            Ok(())
        }
        Cmd::Demo {
            reset,
            patients,
            no_serve,
        } => {
            if std::env::var_os("CASENOTE_DATABASE").is_none() && cli.config.is_none() {
                cfg.database.path = PathBuf::from("demo-data/casenote-demo.db");
            }
            if let Some(dir) = cfg
                .database
                .path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)?;
            }
            if reset {
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", cfg.database.path.display()));
                }
            }
            let fresh = !cfg.database.path.exists();
            let db = open(&cfg)?;
            if fresh {
                eprintln!("creating demo data in {} ...", cfg.database.path.display());
                let s = demo::seed(&db, &cfg.identifiers, patients, 2026)?;
                eprintln!(
                    "demo data: {} patients, {} folders, {} movements over the last week",
                    s.patients, s.folders, s.movements
                );
            }
            if no_serve {
                return Ok(());
            }
            run_server(db, cfg, Some(()))
        }
    }
}

fn open(cfg: &Config) -> Result<Db> {
    let key = audit::AuditKey::load_or_create(&cfg.audit_key_path())?;
    Db::open_with_key(&cfg.database.path, cfg.database.readers, key)
        .with_context(|| format!("opening database {}", cfg.database.path.display()))
}

fn run_server(db: Db, cfg: Config, demo: Option<()>) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&cfg.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if cfg.server.tls_cert.is_some() { "https" } else { "http" };
        println!("Casenote Tracker listening on {scheme}://{addr}");
        println!("  API description: {scheme}://{addr}/api/v1/openapi.json");
        if demo.is_some() {
            println!("  demo sign-ins (password {:?}):", demo::DEMO_PASSWORD);
            for (u, name, role) in demo::DEMO_USERS {
                println!("    {u:<10} {:<16} {name}", role.as_str());
            }
            println!("  try: curl -s -X POST {scheme}://{addr}/api/v1/auth/login -H 'content-type: application/json' -d '{{\"username\":\"library\",\"password\":\"{}\"}}'", demo::DEMO_PASSWORD);
        }
        let (jobs, batches) = db.write(tracker_server::printing::recover_interrupted).await?;
        if jobs + batches > 0 {
            tracing::warn!(
                jobs,
                batches,
                "print jobs interrupted by the last shutdown are kept as failed; retry them"
            );
        }
        if let Some(h) = &cfg.hl7.listen {
            println!("  HL7 MLLP listener (ADT, SIU) on {h}");
        }
        let state = AppState::new(db, cfg);
        tracker_server::serve(listener, state, shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// A password from the named environment variable, or from standard input.
fn read_password(env: Option<String>) -> Result<String> {
    Ok(match env {
        Some(var) => {
            std::env::var(&var).with_context(|| format!("environment variable {var} is not set"))?
        }
        None => {
            eprintln!("password (read from standard input):");
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s.trim_end_matches(['\r', '\n']).to_string()
        }
    })
}
