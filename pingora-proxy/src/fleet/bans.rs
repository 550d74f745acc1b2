//! Bans across the fleet, in the background: new bans written through (a key per ban, kept as
//! long as its offence history counts, and a message to every instance), and every other
//! instance's bans applied here, from messages while subscribed and from the keys after each
//! (re)connection, so an instance that was cut off catches up.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tollgate_core::{BanRecord, ClientKey, Engine, Reason};

use super::link::Link;
use super::PUBLISH_EVERY;

/// Most bans kept for publishing while the store is away.
const MAX_UNPUBLISHED: usize = 4_096;
/// How often the subscription's connection is pinged.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// Most ban keys read back after a (re)connection.
const MAX_CATCH_UP: usize = 100_000;
/// How long background calls may take (they hold up no request).
const BACKGROUND_DEADLINE: Duration = Duration::from_secs(2);

pub struct Background {
    pub link: Arc<Link>,
    pub client: redis::Client,
    pub engine: Arc<Engine>,
    pub prefix: String,
    /// This instance's name on the channels (random at start), so it skips its own counts.
    pub instance: String,
    /// Bans lifted by an operator here.
    pub lifts: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<ClientKey>>,
}

impl Background {
    /// Runs until the process ends, on a runtime of its own.
    pub fn run(self) {
        // Two threads: the store connection's driver never waits behind applying counts.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tollgate-fleet")
            .enable_all()
            .build();
        let Ok(rt) = rt else {
            tracing::error!("fleet: no runtime; this instance decides alone");
            return;
        };
        rt.block_on(async {
            tokio::join!(
                self.publish(),
                self.subscribe(),
                self.reconcile(),
                self.lift()
            );
        });
    }

    fn channel(&self) -> String {
        format!("{}:bans", self.prefix)
    }

    fn key(&self, k: &ClientKey) -> String {
        format!("{}:{{k{}}}:ban", self.prefix, hex::encode(k.to_bytes()))
    }

    /// Writes new bans through, every [`PUBLISH_EVERY`]; keeps them while the store is away.
    async fn publish(&self) {
        let mut pending: Vec<BanRecord> = Vec::new();
        let mut pinged = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(PUBLISH_EVERY).await;
            pending.extend(self.engine.take_new_bans());
            let over = pending.len().saturating_sub(MAX_UNPUBLISHED);
            pending.drain(..over);
            if !self.link.connect().await {
                continue;
            }
            // A ping a second, under the request path's deadline: `tollgate_fleet_up` and the
            // breaker follow the store even while no request asks it anything.
            if pinged.elapsed() >= Duration::from_secs(1) {
                pinged = tokio::time::Instant::now();
                let _ = self.link.call::<String>(redis::cmd("PING")).await;
            }
            // Nothing to write, or nobody to write to (the bans wait for the store).
            if pending.is_empty() || !self.link.is_up() {
                continue;
            }
            let mut pipe = redis::pipe();
            for b in &pending {
                let wire = encode(b);
                let keep = self.engine.ban_memory_secs(b);
                pipe.cmd("SET")
                    .arg(self.key(&b.key))
                    .arg(&wire)
                    .arg("EX")
                    .arg(keep)
                    .ignore();
                pipe.cmd("PUBLISH").arg(self.channel()).arg(&wire).ignore();
            }
            if self.link.pipeline(&pipe, BACKGROUND_DEADLINE).await {
                self.link.metrics.published.inc_by(pending.len() as u64);
                pending.clear();
            }
        }
    }

    /// Lifts operator-lifted bans fleet-wide: the key deleted (so no catch-up restores it) and
    /// every instance told.
    async fn lift(&self) {
        let mut lifts = self.lifts.lock().await;
        while let Some(key) = lifts.recv().await {
            let mut pipe = redis::pipe();
            pipe.cmd("DEL").arg(self.key(&key)).ignore();
            let wire = format!("u1 {}", hex::encode(key.to_bytes()));
            pipe.cmd("PUBLISH").arg(self.channel()).arg(wire).ignore();
            if !self.link.pipeline(&pipe, BACKGROUND_DEADLINE).await {
                tracing::warn!(key = %key, "fleet: a lifted ban could not be shared");
            }
        }
    }

    /// Applies other instances' bans: subscribed, and caught up from the keys on each
    /// (re)connection.
    async fn subscribe(&self) {
        loop {
            if let Err(e) = self.listen().await {
                tracing::debug!(error = %e, "fleet: ban channel closed");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn listen(&self) -> redis::RedisResult<()> {
        let gone = |what: &'static str| redis::RedisError::from((redis::ErrorKind::IoError, what));
        let pubsub = tokio::time::timeout(BACKGROUND_DEADLINE, self.client.get_async_pubsub())
            .await
            .map_err(|_| gone("connect timed out"))??;
        let (mut sink, mut stream) = pubsub.split();
        for channel in [self.channel(), self.counts_channel()] {
            tokio::time::timeout(BACKGROUND_DEADLINE, sink.subscribe(channel))
                .await
                .map_err(|_| gone("subscribe timed out"))??;
        }
        self.catch_up().await;
        let counts = self.counts_channel();
        // A half-open connection delivers nothing and says nothing: ping it.
        let mut alive = tokio::time::interval(KEEPALIVE);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { return Ok(()) };
                    let Ok(payload) = msg.get_payload::<String>() else { continue };
                    if msg.get_channel_name() == counts {
                        self.apply_counts(&payload);
                    } else if let Some(key) = lifted(&payload) {
                        self.engine.lift_ban(&key);
                    } else if let Some(b) = decode(&payload) {
                        self.apply(b);
                    }
                }
                _ = alive.tick() => {
                    tokio::time::timeout(BACKGROUND_DEADLINE, sink.ping::<redis::Value>()).await.map_err(|_| gone("ping timed out"))??;
                }
            }
        }
    }

    /// Reads every ban key (bans made while this instance was not listening).
    async fn catch_up(&self) {
        if !self.link.connect().await {
            return;
        }
        let pattern = format!("{}:{{k*}}:ban", self.prefix);
        let mut cursor = 0u64;
        let mut seen = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let Some((next, keys)) = self
                .link
                .call_within::<(u64, Vec<String>)>(scan, BACKGROUND_DEADLINE)
                .await
            else {
                return;
            };
            if !keys.is_empty() {
                let mut get = redis::cmd("MGET");
                get.arg(&keys);
                let values = self
                    .link
                    .call_within::<Vec<Option<String>>>(get, BACKGROUND_DEADLINE)
                    .await;
                for b in values
                    .unwrap_or_default()
                    .iter()
                    .flatten()
                    .filter_map(|w| decode(w))
                {
                    self.apply(b);
                }
            }
            seen += keys.len();
            cursor = next;
            if cursor == 0 || seen >= MAX_CATCH_UP {
                return;
            }
        }
    }

    fn apply(&self, b: BanRecord) {
        self.link.metrics.received.inc();
        self.engine.apply_fleet_bans([b]);
    }
}

/// `u1 <key hex>`: a ban lifted by an operator somewhere in the fleet.
fn lifted(w: &str) -> Option<ClientKey> {
    let key: [u8; 16] = hex::decode(w.strip_prefix("u1 ")?).ok()?.try_into().ok()?;
    Some(ClientKey::from_bytes(key))
}

/// `v1 <key hex> <until ns> <offences> <last offence ns> <reason>`.
fn encode(b: &BanRecord) -> String {
    let key = hex::encode(b.key.to_bytes());
    format!(
        "v1 {key} {} {} {} {}",
        b.until_ns,
        b.offences,
        b.last_offence_ns,
        b.reason.as_str()
    )
}

/// A ban from the wire; `None` for anything else (a message is never trusted to be well-formed).
fn decode(w: &str) -> Option<BanRecord> {
    let mut f = w.split(' ');
    if f.next()? != "v1" {
        return None;
    }
    let key: [u8; 16] = hex::decode(f.next()?).ok()?.try_into().ok()?;
    let b = BanRecord {
        key: ClientKey::from_bytes(key),
        until_ns: f.next()?.parse().ok()?,
        offences: f.next()?.parse().ok()?,
        last_offence_ns: f.next()?.parse().ok()?,
        reason: Reason::parse(f.next()?)?,
    };
    f.next().is_none().then_some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_cross_the_wire_intact_and_nothing_else_passes_for_one() {
        let b = BanRecord {
            key: ClientKey::new("203.0.113.7".parse().unwrap(), 32, 64),
            until_ns: 1_700_000_000_000_000_000,
            offences: 3,
            last_offence_ns: 1_699_999_999_000_000_000,
            reason: Reason::ExtremeRate,
        };
        assert_eq!(decode(&encode(&b)), Some(b.clone()));
        for bad in [
            "",
            "v1",
            "v2 00 1 1 1 extreme_rate",
            &format!("{} extra", encode(&b)),
            &encode(&b).replace("extreme_rate", "nope"),
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
