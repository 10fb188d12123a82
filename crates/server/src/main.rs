//! The `tandem` binary: parses the command line and runs the server until SIGINT/SIGTERM.

use clap::Parser;
use tandem_server::Server;
use tandem_server::config::{Cli, Command};
use tandem_server::telemetry;

/// jemalloc instead of the system allocator: with its background threads, memory freed after a
/// burst of connections goes back to the OS within seconds (about 10 s: jemalloc's default dirty
/// page decay), where glibc's malloc keeps nearly all of it (docs/BENCHMARKS.md).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Purging runs in jemalloc's own threads, so an idle server returns memory too (without
    // them, jemalloc purges only when it is called, which an idle server rarely does).
    #[cfg(feature = "jemalloc")]
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        eprintln!(
            "warning: jemalloc background threads unavailable ({e}); freed memory is returned only on allocation"
        );
    }
    let Cli { command } = Cli::parse();
    match command {
        Command::Serve(config) => {
            telemetry::init_logging(config.log_format);
            let server = Server::start(*config).await?;
            server.run(shutdown_signal()).await?;
        }
    }
    Ok(())
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
