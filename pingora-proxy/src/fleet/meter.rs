//! Exact limits (`[fleet] limits = "exact"`): the store meters each limited request with GCRA
//! in one script, so the whole fleet shares one bucket per client and limit, to the request.
//! Time is the store's (`TIME`), so instances whose clocks drift still agree. The bucket is
//! the theoretical arrival time in microseconds, kept only as long as it is ahead of now.

use tollgate_core::{Meter, Metered};

use super::Fleet;

/// KEYS[1] the bucket; ARGV[1] microseconds between conforming requests; ARGV[2] the burst.
/// Returns 0 (within, and counted) or the microseconds until the next request conforms.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local after = tat + period
local over = after - now - period * tonumber(ARGV[2])
if over > 0 then return over end
redis.call('SET', KEYS[1], string.format('%.0f', after), 'PX', math.ceil((after - now) / 1000))
return 0
";

pub fn gcra() -> redis::Script {
    redis::Script::new(GCRA)
}

impl Fleet {
    /// The store's reading of `meter`, within the deadline; `Unknown` when it could not be had.
    pub async fn meter(&self, meter: &Meter) -> Metered {
        let key = format!(
            "{}:{{k{}}}:rl:{}",
            self.prefix,
            meter.key_hex(),
            // In hex: a route's name must not make the key look like another kind's.
            hex::encode(meter.counter())
        );
        let mut run = self.gcra.key(key);
        run.arg(meter.period_us()).arg(meter.burst());
        let reading = match self.link.run::<u64>(&run).await {
            Some(0) => Metered::Within,
            Some(us) => Metered::Over(std::time::Duration::from_micros(us)),
            None => Metered::Unknown,
        };
        self.link.metrics.metered(reading);
        reading
    }
}
