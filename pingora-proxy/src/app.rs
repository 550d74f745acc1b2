//! `tollgate run`: wire the engine, the Pingora services and the housekeeping threads together.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use pingora::apps::HttpServerOptions;
use pingora::prelude::Opt;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs as PingoraRunArgs, Server};
use pingora::services::listening::Service;
use tollgate_core::{CoreClock, Engine};

use crate::admin::{Access, Admin};
use crate::admission::{AcceptFilter, Admission};
use crate::cli::RunArgs;
use crate::config::Config;
use crate::config::FleetSettings;
use crate::crawlers::CrawlerDns;
use crate::demo::Demo;
use crate::fleet::{Fleet, FleetMetrics};
use crate::hello::Capture;
use crate::logging::{self, LogBudget};
use crate::metrics::Metrics;
use crate::persist;
use crate::proxy::{Gate, Shared};
use crate::reload::{self, Reloader};
use crate::secrets;
use crate::tls;
use crate::upstream::Upstreams;

const SWEEP_EVERY: Duration = Duration::from_secs(1);
const PERSIST_EVERY: Duration = Duration::from_secs(5);

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let budget = Arc::new(LogBudget::new(args.log_refusals_per_sec));
    logging::init(args.log_format, budget.clone());
    let Config {
        rules,
        server: settings,
        fleet,
    } = args.rules.load()?;
    let listen = args.listen.unwrap_or(settings.listen);
    let admin_addr = args.admin.unwrap_or(settings.admin);
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| settings.state_dir.clone());
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating state dir {}", state_dir.display()))?;
    let demo = settings.upstreams.is_empty() && args.upstreams.is_empty();
    let (access, token_file) = Access::load(
        admin_addr,
        &settings.admin_hosts,
        settings.admin_token_file.as_deref(),
        &state_dir,
    )?;
    if !admin_addr.ip().is_loopback() {
        tracing::warn!(admin = %admin_addr, "admin listener is not on loopback: only the token guards DELETE /bans and POST /reload; firewall it");
    }

    let (keys, key_source) = secrets::load(args.key.secret_file.as_deref(), &state_dir)?;
    let engine = Engine::new(rules, keys, CoreClock::system());
    match persist::load(&engine, &state_dir) {
        Ok(n) => {
            tracing::info!(bans = n, file = %persist::path(&state_dir).display(), "ban state loaded")
        }
        Err(e) => tracing::warn!(error = %e, "ban state not loaded"),
    }
    let metrics = Metrics::new().context("registering metrics")?;
    let upstreams = Upstreams::new(
        settings.upstreams.clone(),
        args.upstreams.clone(),
        args.demo_backend,
        settings.timeouts,
    );
    let configured = engine.with_rules(|r| r.crawlers.as_ref().and_then(|c| c.resolver));
    let dns = match CrawlerDns::new(args.resolver, configured) {
        Ok(dns) => Some(dns),
        Err(e) => {
            tracing::warn!(error = %e, "no resolver: crawlers are verified by their networks only");
            None
        }
    };
    let shared = Arc::new(Shared::new(engine, metrics, budget, upstreams, dns));
    join_fleet(&shared, &fleet)?;
    let reloader = Arc::new(Reloader::new(
        args.rules.path.clone(),
        key_source,
        shared.clone(),
        settings.clone(),
    ));
    reload::spawn_sighup(reloader.clone()).context("installing SIGHUP handler")?;
    reload::spawn_watcher(reloader.clone()).context("starting file watcher")?;
    let stop = Arc::new(AtomicBool::new(false));
    let housekeeping = spawn_housekeeping(shared.clone(), state_dir.clone(), stop.clone())?;

    let mut server = Server::new_with_opt_and_conf(Opt::default(), server_conf(&args, &state_dir));
    server.bootstrap();
    let conf = server.configuration.clone();
    let mut proxy = proxy_service(&conf, &shared, settings.h2c, false);
    proxy.add_tcp(&listen.to_string());
    let auth_listen = args.auth_listen.or(settings.auth_listen);
    if let Some(at) = auth_listen {
        let mut auth = proxy_service(&conf, &shared, false, true);
        auth.add_tcp(&at.to_string());
        server.add_service(auth);
    }
    let tls_listen = match &settings.tls {
        Some(t) => {
            let at = args.tls_listen.unwrap_or(t.listen);
            let settings = tls::settings(t, &state_dir)?;
            proxy.add_tls_with_settings(&at.to_string(), None, settings);
            let counted = shared.clone();
            let capture = Capture {
                hellos: shared.hellos.clone(),
                seen: Box::new(move |h| counted.metrics.tls_hello(&h.ja4)),
            };
            proxy.endpoints().set_pre_tls_callback(Arc::new(capture));
            Some(at)
        }
        None if args.tls_listen.is_some() => anyhow::bail!(
            "--tls-listen needs [server] tls_cert and tls_key (or tls_self_signed = true) in {}",
            args.rules.path.display()
        ),
        None => None,
    };
    server.add_service(proxy);
    let mut admin = Service::new(
        "tollgate admin".into(),
        Admin {
            shared: shared.clone(),
            reloader,
            access,
        },
    );
    admin.add_tcp(&admin_addr.to_string());
    admin.threads = Some(1);
    server.add_service(admin);
    if demo {
        let mut backend = Service::new("tollgate demo backend".into(), Demo);
        backend.add_tcp(&args.demo_backend.to_string());
        backend.threads = Some(1);
        server.add_service(backend);
    }
    tracing::info!(%listen, tls = ?tls_listen, auth = ?auth_listen, admin = %admin_addr, demo_backend = demo, admin_token = %token_file.display(), rules = %args.rules.path.display(), "tollgate running");
    server.run(PingoraRunArgs::default());

    stop.store(true, Ordering::SeqCst);
    let _ = housekeeping.join();
    match persist::save(&shared.engine, &state_dir) {
        Ok(n) => tracing::info!(bans = n, "ban state saved; stopped"),
        Err(e) => tracing::error!(error = %e, "ban state not saved"),
    }
    Ok(ExitCode::SUCCESS)
}

fn server_conf(args: &RunArgs, state_dir: &Path) -> ServerConf {
    let threads = args
        .threads
        .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
    ServerConf {
        threads,
        pid_file: state_dir.join("tollgate.pid").display().to_string(),
        upgrade_sock: state_dir.join("upgrade.sock").display().to_string(),
        grace_period_seconds: Some(args.grace_secs),
        graceful_shutdown_timeout_seconds: Some(args.grace_secs),
        ..ServerConf::default()
    }
}

/// Joins the fleet of `TOLLGATE_REDIS_URL`, else of `[fleet] redis_url`, if either is set.
fn join_fleet(shared: &Arc<Shared>, settings: &FleetSettings) -> anyhow::Result<()> {
    let env = std::env::var("TOLLGATE_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(url) = env.or_else(|| settings.redis_url.clone()) else {
        return Ok(());
    };
    let metrics = FleetMetrics::new()?;
    for c in metrics.collectors() {
        shared.metrics.register(c)?;
    }
    let fleet = Fleet::join(&url, settings, shared.engine.clone(), metrics)
        .with_context(|| format!("joining the fleet at {}", redact(&url)))?;
    let _ = shared.fleet.set(fleet);
    tracing::info!(store = %redact(&url), prefix = %settings.key_prefix, limits = ?settings.limits, "fleet joined: bans and answers shared");
    Ok(())
}

/// A store URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

/// Logs when under-attack mode engages or releases; returns the current state.
fn log_attack_change(shared: &Shared, was: bool) -> bool {
    let now = shared.engine.attack_status();
    if now.engaged != was {
        let (rps, eps) = (now.last_requests_per_sec, now.last_upstream_errors_per_sec);
        if now.engaged {
            tracing::warn!(
                requests_per_sec = rps,
                upstream_errors_per_sec = eps,
                "under-attack mode engaged: score bands tightened"
            );
        } else {
            tracing::info!(
                requests_per_sec = rps,
                upstream_errors_per_sec = eps,
                "under-attack mode released"
            );
        }
    }
    now.engaged
}

/// The public listeners' service: the proxy behind the connection checks, with HTTP/2 header
/// lists capped like HTTP/1.x headers.
fn proxy_service(
    conf: &Arc<ServerConf>,
    shared: &Arc<Shared>,
    h2c: bool,
    auth: bool,
) -> Service<Admission> {
    let gate = Gate {
        shared: shared.clone(),
        auth,
    };
    let mut proxy = http_proxy(conf, gate);
    let mut options = HttpServerOptions::default();
    options.h2c = h2c;
    proxy.server_options = Some(options);
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_header_list_size(shared.engine.connection_rules().max_header_bytes);
    proxy.h2_options = Some(h2);
    let app = Admission::new(proxy, shared.clone());
    let name = if auth {
        "tollgate auth"
    } else {
        "tollgate proxy"
    };
    let mut service = Service::new(name.into(), app);
    service.set_connection_filter(Arc::new(AcceptFilter {
        shared: shared.clone(),
    }));
    service
}

/// Sweeps expired state every second and persists bans every few seconds, until `stop`.
fn spawn_housekeeping(
    shared: Arc<Shared>,
    state_dir: PathBuf,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("tollgate-housekeeping".into())
        .spawn(move || {
            let mut last_persist = Instant::now();
            let mut engaged = false;
            while !stop.load(Ordering::SeqCst) {
                thread::sleep(SWEEP_EVERY);
                shared.engine.sweep();
                engaged = log_attack_change(&shared, engaged);
                let suppressed = shared.log_budget.drain_suppressed();
                shared.metrics.log_suppressed.inc_by(suppressed);
                if suppressed > 0 {
                    tracing::warn!(
                        suppressed,
                        "log lines (refusals, Pingora errors) suppressed by the log budget in the last second"
                    );
                }
                if last_persist.elapsed() >= PERSIST_EVERY {
                    last_persist = Instant::now();
                    if let Err(e) = persist::save(&shared.engine, &state_dir) {
                        tracing::warn!(error = %e, "ban state not saved");
                    }
                }
            }
        })
}
