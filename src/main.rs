//! The `spdesk` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use spdesk::cli::{Cli, Command, ConfigCommand, FormCommand};
use spdesk::cli::{check, db, logging, orders, schedule, setup, terminal, users, verify};
use spdesk::config::{self, Config};
use spdesk::daemon;

/// Logs go to stderr in the style of where stderr goes (`cli::logging`).
fn init_logging(json: bool) {
    let spec = std::env::var("SPDESK_LOG").ok();
    let style = logging::Surroundings::read(json).style();
    logging::init(style, spec.as_deref());
}

/// Loads the full config or explains where it was looked for.
fn load_config(cli: &Cli) -> Result<Config, String> {
    let Some(path) = config::locate(cli.config.as_deref()) else {
        return Err(format!(
            "no config: give --config PATH, set ${}, or create {} (see README.md, \"Configuration\")",
            config::ENV_VAR,
            config::DEFAULT_PATH
        ));
    };
    Config::load(&path).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                check::EXIT_USAGE as u8
            } else {
                0
            });
        }
    };
    // The reader child starts fast and confines itself before anything else happens: no
    // logging, no config, no runtime.
    if let Command::ReaderChild { memory } = cli.command {
        return ExitCode::from(spdesk::sandbox::child::main(memory));
    }
    init_logging(cli.log_json);
    let code = match run(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", terminal::text(&format!("{e:#}")));
            1
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Check(args) => {
            let cfg = match config::locate(cli.config.as_deref()) {
                Some(path) => match Config::load_for_check(&path) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("{}", terminal::text(&e.to_string()));
                        return Ok(check::EXIT_USAGE);
                    }
                },
                None => config::CheckConfig::default(),
            };
            check::check(args, &cfg)
        }
        Command::Config(ConfigCommand::Check) => Ok(config_check(cli)),
        Command::Form(FormCommand::Blank { kind, out }) => {
            let bytes = spdesk::forms::blank::blank_docx(*kind);
            std::fs::write(out, bytes)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
            println!("{}", out.display());
            Ok(0)
        }
        Command::Orders(cmd) => {
            let cfg = load_config(cli).map_err(anyhow::Error::msg)?;
            runtime()?.block_on(async { orders::orders(cmd, &setup::shared(cfg).await?).await })
        }
        Command::Digest { send } => {
            let cfg = load_config(cli).map_err(anyhow::Error::msg)?;
            runtime()?.block_on(async { schedule::digest(*send, &setup::shared(cfg).await?).await })
        }
        Command::Billing(cmd) => {
            let cfg = load_config(cli).map_err(anyhow::Error::msg)?;
            runtime()?.block_on(async { schedule::billing(cmd, &setup::shared(cfg).await?).await })
        }
        Command::Users(cmd) => {
            let cfg = load_config(cli).map_err(anyhow::Error::msg)?;
            runtime()?.block_on(async {
                let store = spdesk::store::Store::open(&cfg.database.connect_url()?).await?;
                users::users(cmd, &store).await
            })
        }
        Command::Verify {
            reference,
            json,
            who,
        } => {
            let cfg = load_config(cli).map_err(anyhow::Error::msg)?;
            runtime()?.block_on(async {
                let shared = setup::shared(cfg).await?;
                verify::verify(&shared, reference, *json, who.as_name.as_deref()).await
            })
        }
        Command::Probe(args) => probe(cli, args),
        Command::Db(cmd) => {
            let cfg = load_config(cli).map_err(anyhow::Error::msg)?;
            runtime()?.block_on(db::db(cmd, &cfg))
        }
        Command::ReaderChild { .. } => Ok(check::EXIT_USAGE),
        Command::Run => run_daemon(cli),
    }
}

/// `spdesk probe`: with the config when one is found (its trust bundle and timeout), else
/// without; a config that does not load is a usage error.
fn probe(cli: &Cli, args: &spdesk::cli::ProbeArgs) -> anyhow::Result<i32> {
    let cfg = match config::locate(cli.config.as_deref()) {
        Some(path) => match Config::load(&path) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("{}", terminal::text(&e.to_string()));
                return Ok(check::EXIT_USAGE);
            }
        },
        None => None,
    };
    let request = verify::ProbeRequest {
        url: &args.url,
        cert: args.cert.as_deref(),
        ca: args.ca.as_deref(),
        json: args.json,
        config: cfg.as_ref(),
    };
    runtime()?.block_on(verify::probe(&request))
}

/// `spdesk config check`: everything `spdesk run` checks before it connects.
fn config_check(cli: &Cli) -> i32 {
    let Some(path) = config::locate(cli.config.as_deref()) else {
        let e = load_config(cli).err().unwrap_or_default();
        eprintln!("{}", terminal::text(&e));
        return 1;
    };
    let cfg = match Config::load(&path) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{}", terminal::text(&e.to_string()));
            return 1;
        }
    };
    if let Err(e) = setup::check(&cfg) {
        let e = format!("{}: {e:#}", path.display());
        eprintln!("{}", terminal::text(&e));
        return 1;
    }
    println!("{}: OK", path.display());
    for w in spdesk::config::warnings::warnings(&cfg) {
        println!("warning: {}", terminal::line(&w));
    }
    println!("{}", cfg.redacted_summary());
    0
}

/// `spdesk run`: the daemon until SIGTERM or SIGINT.
fn run_daemon(cli: &Cli) -> anyhow::Result<i32> {
    // A wrong config stops the daemon here, before anything connects.
    let cfg = match load_config(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", terminal::text(&e.to_string()));
            return Ok(1);
        }
    };
    for w in spdesk::config::warnings::warnings(&cfg) {
        tracing::warn!(warning = %w, "config");
    }
    let reader = setup::sandboxed_reader(&cfg.limits)?;
    runtime()?.block_on(async {
        let parts = setup::parts(cfg, reader).await?;
        daemon::run(parts, stop_signal()).await?;
        Ok(0)
    })
}

/// Resolves when the process is asked to stop: SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                    _ = int.recv() => tracing::info!("SIGINT: stopping"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
