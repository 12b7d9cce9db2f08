//! The per-client table: a fixed number of entries, allocated once, shared
//! by every worker thread and protocol.
//!
//! Entries sit in buckets of [`WAYS`], each bucket behind its own lock, and
//! a key (a limit and a client) hashes to one bucket. When the bucket is
//! full, an entry that holds nothing goes first (a rate whose client has
//! earned its whole burst back, a count of connections at zero), then the
//! rate entry nearest to that; an entry counting open connections or
//! streams is never dropped. A flood of distinct clients therefore evicts
//! entries and never grows the table.

use std::hash::BuildHasher;
use std::sync::Mutex;

/// Entries per bucket.
pub const WAYS: usize = 8;

/// What one entry costs, its bucket's lock shared among its ways: 1 MiB
/// holds about 31,700 clients.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Bucket>() / WAYS;

// The smallest table the command line takes holds a bucket at least.
const _: () = assert!(crate::config::rate::MIN_LIMIT_TABLE >= ENTRY_BYTES * WAYS);

/// A client: an IPv4 address, or an IPv6 address cut to its prefix.
pub type Client = [u64; 2];

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The limit; 0 for a free slot.
    limit: u64,
    client: Client,
    /// A rate's theoretical arrival time (ns since the table's epoch), or
    /// a count of what is open.
    state: u64,
}

type Bucket = Mutex<[Slot; WAYS]>;

/// How a request fares against a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rated {
    /// Within the rate, or its burst: served now.
    Now,
    /// Within the burst, served after waiting this many ns.
    After(u64),
    /// Past the burst: the client may try again after this many ns.
    Refused(u64),
}

/// Whether a count could be raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Raised: lower it again when done.
    Yes,
    /// At the limit already.
    Full,
    /// Not counted: the bucket is full of open counts (fail open).
    Untracked,
}

/// The table. Its size never changes after it is made.
pub struct Table {
    buckets: Box<[Bucket]>,
    seed: u64,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("entries", &self.capacity())
            .finish_non_exhaustive()
    }
}

impl Table {
    /// A table of about `bytes` bytes (one bucket at least).
    pub fn new(bytes: usize) -> Table {
        let n = (bytes / (ENTRY_BYTES * WAYS)).max(1);
        Table {
            buckets: (0..n)
                .map(|_| Mutex::new([Slot::default(); WAYS]))
                .collect(),
            seed: std::hash::RandomState::new().hash_one(0x6865_6e61u64),
        }
    }

    /// How many entries it holds at most.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// The bytes it takes.
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }

    /// Entries in use now (counted over every bucket: for metrics).
    pub fn used(&self, now: u64) -> usize {
        self.buckets
            .iter()
            .map(|b| {
                b.lock()
                    .map(|ways| ways.iter().filter(|s| s.limit != 0 && !s.idle(now)).count())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// The bucket of a key: a keyed mix of its words (a seed chosen at
    /// random per table, so that which keys share a bucket cannot be
    /// known from outside), then a multiply-shift onto the buckets.
    fn bucket(&self, limit: u64, client: Client) -> &Bucket {
        let mut h = self.seed ^ limit.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h = (h ^ client[0]).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 31;
        h = (h ^ client[1]).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 29;
        let n = self.buckets.len() as u128;
        &self.buckets[((u128::from(h) * n) >> 64) as usize]
    }

    /// Runs `f` on the entry of `limit` and `client`, made (or taken over)
    /// when missing; `None` when it is missing and there is no room.
    fn with<R>(
        &self,
        limit: u64,
        client: Client,
        now: u64,
        make: bool,
        f: impl FnOnce(&mut Slot) -> R,
    ) -> Option<R> {
        let mut ways = self.bucket(limit, client).lock().ok()?;
        if let Some(slot) = ways
            .iter_mut()
            .find(|s| s.limit == limit && s.client == client)
        {
            return Some(f(slot));
        }
        if !make {
            return None;
        }
        // A slot that holds nothing, else the rate nearest to holding
        // nothing; never an open count.
        let victim = ways
            .iter_mut()
            .filter(|s| s.limit == 0 || s.idle(now) || s.is_rate())
            .min_by_key(|s| {
                if s.limit == 0 || s.idle(now) {
                    0
                } else {
                    s.state
                }
            })?;
        *victim = Slot {
            limit,
            client,
            state: 0,
        };
        Some(f(victim))
    }

    /// A request of `client` against a rate of one request per `interval`
    /// ns with `burst` more, at `now` ns (generic cell rate algorithm):
    /// with `delay`, requests of the burst wait their turn.
    pub fn rate(
        &self,
        limit: u64,
        client: Client,
        now: u64,
        interval: u64,
        burst: u64,
        delay: bool,
    ) -> Rated {
        let tolerance = interval.saturating_mul(burst);
        self.with(limit, client, now, true, |slot| {
            let tat = slot.state.max(now);
            let ahead = tat - now;
            if ahead > tolerance {
                return Rated::Refused(ahead - tolerance);
            }
            slot.state = tat + interval;
            if delay && ahead > 0 {
                Rated::After(ahead)
            } else {
                Rated::Now
            }
        })
        // No room: a bucket full of open counts; the request goes on.
        .unwrap_or(Rated::Now)
    }

    /// Raises `client`'s count of `limit` unless it is at `max`.
    pub fn raise(&self, limit: u64, client: Client, max: u32) -> Counted {
        self.with(limit, client, 0, true, |slot| {
            if slot.state >= u64::from(max) {
                Counted::Full
            } else {
                slot.state += 1;
                Counted::Yes
            }
        })
        .unwrap_or(Counted::Untracked)
    }

    /// Lowers what [`Table::raise`] raised.
    pub fn lower(&self, limit: u64, client: Client) {
        self.with(limit, client, 0, false, |slot| {
            slot.state = slot.state.saturating_sub(1);
            if slot.state == 0 {
                slot.limit = 0;
            }
        });
    }
}

impl Slot {
    fn is_rate(&self) -> bool {
        self.limit >= 1 << 63
    }

    /// Whether it holds nothing a fresh entry would not.
    fn idle(&self, now: u64) -> bool {
        if self.is_rate() {
            self.state <= now
        } else {
            self.state == 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: u64 = 1 << 63 | 7;
    const MS: u64 = 1_000_000;

    #[test]
    fn an_entry_costs_33_bytes_and_the_smallest_table_holds_a_bucket() {
        // The cost the README and --help state.
        assert_eq!(ENTRY_BYTES, 33);
    }

    #[test]
    fn a_rate_with_its_burst() {
        let t = Table::new(4096);
        let c = [0, 1];
        // 10/s, burst 2: three at once, then one every 100 ms.
        for _ in 0..3 {
            assert_eq!(t.rate(R, c, 0, 100 * MS, 2, false), Rated::Now);
        }
        assert_eq!(
            t.rate(R, c, 0, 100 * MS, 2, false),
            Rated::Refused(100 * MS)
        );
        assert_eq!(t.rate(R, c, 100 * MS, 100 * MS, 2, false), Rated::Now);
        // Another client is not touched.
        assert_eq!(t.rate(R, [0, 2], 100 * MS, 100 * MS, 2, false), Rated::Now);
    }

    #[test]
    fn delay_spaces_the_burst() {
        let t = Table::new(4096);
        let c = [0, 1];
        assert_eq!(t.rate(R, c, 0, 100 * MS, 2, true), Rated::Now);
        assert_eq!(t.rate(R, c, 0, 100 * MS, 2, true), Rated::After(100 * MS));
        assert_eq!(t.rate(R, c, 0, 100 * MS, 2, true), Rated::After(200 * MS));
        assert_eq!(t.rate(R, c, 0, 100 * MS, 2, true), Rated::Refused(100 * MS));
    }

    #[test]
    fn counts_rise_and_fall() {
        let t = Table::new(4096);
        let c = [0, 9];
        assert_eq!(t.raise(1, c, 2), Counted::Yes);
        assert_eq!(t.raise(1, c, 2), Counted::Yes);
        assert_eq!(t.raise(1, c, 2), Counted::Full);
        t.lower(1, c);
        assert_eq!(t.raise(1, c, 2), Counted::Yes);
    }

    #[test]
    fn a_flood_never_grows_the_table_nor_drops_open_counts() {
        let t = Table::new(64 * 1024);
        let cap = t.capacity();
        // A client with connections open.
        assert_eq!(t.raise(1, [0, 0], 1), Counted::Yes);
        for i in 1..100_000u64 {
            t.rate(R, [0, i], i, 100 * MS, 0, false);
        }
        assert!(t.used(100_000) <= cap);
        assert_eq!(t.bytes(), std::mem::size_of::<Bucket>() * (cap / WAYS));
        assert_eq!(t.raise(1, [0, 0], 1), Counted::Full);
        // A bucket full of open counts does not count more.
        let tiny = Table::new(1);
        for i in 0..WAYS as u64 {
            assert_eq!(tiny.raise(1, [0, i], 5), Counted::Yes);
        }
        assert_eq!(tiny.raise(1, [0, 99], 5), Counted::Untracked);
    }
}
