//! The connection to the store, with a deadline on every call and a circuit breaker: after a
//! few failures in a row calls are not even tried for a second, so a dead store costs a request
//! nothing, and the instance says once that it is on its own (`tollgate_fleet_up 0`) and once
//! that it is back.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use redis::aio::ConnectionManager;
use redis::{Client, FromRedisValue};
use tollgate_core::Metered;

/// Failures in a row that open the breaker.
const TRIPS_AFTER: u32 = 3;
/// How long an open breaker refuses calls before one is tried again.
const OPEN_FOR: Duration = Duration::from_secs(1);

/// The fleet's series, registered with the proxy's others.
#[derive(Clone)]
pub struct FleetMetrics {
    pub up: IntGauge,
    pub published: IntCounter,
    pub received: IntCounter,
    claims: IntCounterVec,
    metered: IntCounterVec,
}

impl FleetMetrics {
    pub fn new() -> prometheus::Result<Self> {
        Ok(Self {
            up: IntGauge::new("tollgate_fleet_up", "1 while the fleet's store answers; 0 while this instance decides on its own.")?,
            published: IntCounter::new("tollgate_fleet_bans_published_total", "Bans this instance wrote to the fleet.")?,
            received: IntCounter::new("tollgate_fleet_bans_received_total", "Bans from the fleet applied here (own echoes included).")?,
            claims: IntCounterVec::new(
                Opts::new("tollgate_fleet_claims_total", "First answers claimed across the fleet: first (granted), taken (a replay elsewhere), unknown (store away: decided locally)."),
                &["result"],
            )?,
            metered: IntCounterVec::new(
                Opts::new("tollgate_fleet_metered_total", "Requests the fleet's store metered (limits = \"exact\"): within, over, unknown (store away: the local bucket decided)."),
                &["result"],
            )?,
        })
    }

    /// Every series, to register.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.up.clone()),
            Box::new(self.published.clone()),
            Box::new(self.received.clone()),
            Box::new(self.claims.clone()),
            Box::new(self.metered.clone()),
        ]
    }

    pub fn claim(&self, first: Option<bool>) {
        let result = match first {
            Some(true) => "first",
            Some(false) => "taken",
            None => "unknown",
        };
        self.claims.with_label_values(&[result]).inc();
    }

    pub fn metered(&self, reading: Metered) {
        let result = match reading {
            Metered::Within => "within",
            Metered::Over(_) => "over",
            Metered::Unknown => "unknown",
        };
        self.metered.with_label_values(&[result]).inc();
    }
}

pub struct Link {
    client: Client,
    conn: ArcSwapOption<ConnectionManager>,
    deadline: Duration,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which the breaker is open.
    open_until_ms: AtomicU64,
    epoch: Instant,
    up: AtomicBool,
    /// The outage is logged already.
    warned: AtomicBool,
    /// The first connection is logged already.
    said_up: AtomicBool,
    pub metrics: FleetMetrics,
}

impl Link {
    pub fn new(client: Client, deadline: Duration, metrics: FleetMetrics) -> Self {
        Self {
            client,
            conn: ArcSwapOption::empty(),
            deadline,
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            up: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            said_up: AtomicBool::new(false),
            metrics,
        }
    }

    /// Connects (the manager then reconnects by itself); on failure, says so once.
    pub async fn connect(&self) -> bool {
        if self.conn.load().is_some() {
            return true;
        }
        // The manager's own timeouts cover connecting and background calls; every call on a
        // request's behalf has the (shorter) deadline of `call` around it.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(1))
            .set_number_of_retries(1);
        match self.client.get_connection_manager_with_config(config).await {
            Ok(c) => {
                self.conn.store(Some(std::sync::Arc::new(c)));
                self.succeeded();
                true
            }
            Err(e) => {
                self.failed(&e.to_string());
                false
            }
        }
    }

    /// Runs `cmd` within the deadline; `None` when the store is away (or the breaker open).
    pub async fn call<T: FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        self.call_within(cmd, self.deadline).await
    }

    /// [`Link::call`] with a longer deadline, for background work that may wait.
    pub async fn call_within<T: FromRedisValue>(&self, cmd: redis::Cmd, d: Duration) -> Option<T> {
        self.guarded(d, |mut conn| async move {
            cmd.query_async::<T>(&mut conn).await
        })
        .await
    }

    /// Runs `script` within the deadline (by its digest; loaded first where the store lacks
    /// it); `None` when the store is away (or the breaker open).
    pub async fn run<T: FromRedisValue>(&self, script: &redis::ScriptInvocation<'_>) -> Option<T> {
        self.guarded(self.deadline, |mut conn| async move {
            script.invoke_async::<T>(&mut conn).await
        })
        .await
    }

    /// Runs what `call` makes of a connection within `d`, behind the breaker.
    async fn guarded<T, F>(
        &self,
        d: Duration,
        call: impl FnOnce(ConnectionManager) -> F,
    ) -> Option<T>
    where
        F: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if self.now_ms() < self.open_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let conn = (*self.conn.load_full()?).clone();
        match tokio::time::timeout(d, call(conn)).await {
            Ok(Ok(v)) => {
                self.succeeded();
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("deadline passed");
                None
            }
        }
    }

    /// The last call succeeded (and the breaker is closed).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs `pipe` in one round trip within `d`; whether it succeeded. Background work with a
    /// longer deadline: it neither opens nor closes the breaker (a slow store must still open
    /// it for the request path).
    pub async fn pipeline(&self, pipe: &redis::Pipeline, d: Duration) -> bool {
        let Some(conn) = self.conn.load_full() else {
            return false;
        };
        let mut conn = (*conn).clone();
        let run = pipe.query_async::<()>(&mut conn);
        matches!(tokio::time::timeout(d, run).await, Ok(Ok(())))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.metrics.up.set(1);
        self.up.store(true, Ordering::Relaxed);
        let first = !self.said_up.swap(true, Ordering::Relaxed);
        if self.warned.swap(false, Ordering::Relaxed) || first {
            tracing::info!("fleet store reachable: sharing bans and answers");
        }
    }

    fn failed(&self, why: &str) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= TRIPS_AFTER {
            let until = self.now_ms() + OPEN_FOR.as_millis() as u64;
            self.open_until_ms.store(until, Ordering::Relaxed);
        }
        self.metrics.up.set(0);
        self.up.store(false, Ordering::Relaxed);
        // Once per outage: `succeeded` clears it.
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = why,
                "fleet store unreachable: deciding on local state until it is back"
            );
        }
    }
}
