//! Builds the application from settings and runs it until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;

use eventmall_aggregates::PaymentServices;
use tokio::net::TcpListener;
use tracing::info;

use crate::commands::CommandGateway;
use crate::config::Settings;
use crate::http::{AppState, router};
use crate::store::{self, EventBackend, StoreResult};
use crate::wallet::{SimulatedWallet, WalletLimits};

/// Opens the event store and wires the command gateway, without serving anything.
pub async fn command_gateway(settings: &Settings) -> StoreResult<CommandGateway> {
    if settings.store.url.is_empty() {
        // The default SQLite file lives in the data directory; make sure it exists.
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| store::StoreError::Database(sqlx::Error::Io(e)))?;
    }
    let backend = store::connect(&settings.store_url(), settings.store.max_connections).await?;
    Ok(gateway_over(backend, settings))
}

pub fn gateway_over(backend: Arc<dyn EventBackend>, settings: &Settings) -> CommandGateway {
    let wallet = SimulatedWallet::new(WalletLimits {
        starting_balance: settings.wallet.starting_balance,
        per_payment_limit: settings.wallet.per_payment_limit,
    });
    let services = PaymentServices {
        wallet: Arc::new(wallet),
    };
    CommandGateway::new(
        backend,
        settings.store.snapshot_every,
        settings.store.aggregate_cache,
        services,
    )
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    commands: CommandGateway,
}

impl Application {
    /// Opens the store, migrates it and binds the listener (port 0 picks a free port).
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let commands = command_gateway(settings).await?;
        Self::with_gateway(settings, commands).await
    }

    pub async fn with_gateway(
        settings: &Settings,
        commands: CommandGateway,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.http.addr).await?;
        let state = AppState {
            commands: commands.clone(),
        };
        Ok(Self {
            listener,
            router: router(state, settings.http.body_limit_bytes),
            commands,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn commands(&self) -> &CommandGateway {
        &self.commands
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        info!(addr = %self.listener.local_addr()?, "serving");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(stop)
            .await
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutdown signal received");
}
