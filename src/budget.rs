//! The memory that answers may take in one run: their bodies, and the JSON parsed from them.
//!
//! The body cap (`--max-body`) bounds one answer as bytes, but a run has many requests in flight
//! (cases in parallel, and lanes within a case), and parsed JSON can take far more memory than
//! its text: a body of `[0,0,0,...]` grows about seventeen-fold, one of `[{"a":0},...]` more
//! than eighty-fold. So every answer reserves what it holds from one budget shared by the run,
//! and gives it back when it is dropped:
//! - a body may take [`FREE_ALLOWANCE`] without a reservation; one that grows past it reserves
//!   the whole cap at once, so that readers never hold part of the budget while waiting for more
//!   (which would let readers block each other until they all time out);
//! - once the body is in, the reservation becomes its size plus an estimate of what parsing it
//!   takes ([`parsed_size_estimate`]); an answer that alone would take more than the budget is
//!   kept unparsed, and reported as too large to check.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many times the body cap the whole budget is.
pub const BUDGET_PER_BODY_CAP: usize = 8;

/// What a body may take while it arrives before it has to reserve the cap: small answers, the
/// usual ones, never wait for each other.
pub const FREE_ALLOWANCE: usize = 64 * 1024;

/// Reservations are counted in units of this many bytes, so that the semaphore's count of
/// permits stays small whatever the budget.
const UNIT: usize = 1024;

/// The budget of one run, shared by every request of it.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    units: Arc<Semaphore>,
    bytes: usize,
}

impl MemoryBudget {
    /// A budget of `bytes` (rounded up to whole KiB, at least one).
    pub fn new(bytes: usize) -> Self {
        let units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(units)),
            bytes: units * UNIT,
        }
    }

    /// The budget for a run whose bodies are capped at `max_body` bytes.
    pub fn for_body_cap(max_body: usize) -> Self {
        Self::new(max_body.saturating_mul(BUDGET_PER_BODY_CAP))
    }

    /// The whole budget, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// An empty reservation, to grow with [`Reservation::grow_to`].
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            permit: None,
            units: 0,
        }
    }
}

/// Part of the budget, held until dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    permit: Option<OwnedSemaphorePermit>,
    units: usize,
}

impl Reservation {
    /// Grows the reservation to cover `bytes` in all, waiting while other answers hold the
    /// budget. Returns `false`, reserving nothing more, when `bytes` is more than the whole
    /// budget and so could never be had.
    pub async fn grow_to(&mut self, bytes: usize) -> bool {
        let wanted = bytes.div_ceil(UNIT);
        if wanted * UNIT > self.budget.bytes {
            return false;
        }
        if wanted <= self.units {
            return true;
        }
        let more = u32::try_from(wanted - self.units).unwrap_or(u32::MAX);
        // The semaphore is never closed, so acquiring only ever waits.
        let Ok(permit) = Arc::clone(&self.budget.units)
            .acquire_many_owned(more)
            .await
        else {
            return false;
        };
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.units += more as usize;
        true
    }

    /// Shrinks the reservation to cover `bytes` in all, giving the rest back at once.
    pub fn shrink_to(&mut self, bytes: usize) {
        let wanted = bytes.div_ceil(UNIT);
        if let Some(held) = &mut self.permit
            && wanted < self.units
        {
            drop(held.split(self.units - wanted));
            self.units = wanted;
        }
    }

    /// The bytes reserved.
    pub fn bytes(&self) -> usize {
        self.units * UNIT
    }
}

/// An upper bound of the memory that parsing `body` as JSON into `serde_json::Value` takes,
/// from one pass over its bytes (counting containers, separators and strings outside strings).
///
/// Measured with a counting allocator (serde_json 1, `BTreeMap` objects), it is 1.2 to 3 times
/// what parsing takes for arrays of numbers, of strings, of empty or one-member containers, for
/// one object of a million members and for a 100k-connection answer, and never below it.
pub fn parsed_size_estimate(body: &[u8]) -> usize {
    // Every value is a `Value` of 32 bytes, in a list that may have grown to half again as many.
    const PER_VALUE: usize = 48;
    // An object's members live in `BTreeMap` leaf nodes of eleven keys and values each.
    const PER_OBJECT: usize = 640;
    // A non-empty array allocates room for four values at first.
    const PER_ARRAY: usize = 128;
    // The allocation of each string and key, on top of its text (counted in the body's length).
    const PER_STRING: usize = 16;
    // serde_json refuses nesting deeper than this, and stops parsing there.
    const DEPTH_LIMIT: usize = 128;

    let (mut values, mut objects, mut arrays, mut strings) = (1usize, 0usize, 0usize, 0usize);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut parsed_up_to = body.len();
    for (at, &byte) in body.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                strings += 1;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > DEPTH_LIMIT {
                    parsed_up_to = at;
                    break;
                }
                values += 1;
                if byte == b'{' {
                    objects += 1;
                } else {
                    arrays += 1;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => values += 1,
            _ => {}
        }
    }
    parsed_up_to
        + values * PER_VALUE
        + objects * PER_OBJECT
        + arrays * PER_ARRAY
        + strings * PER_STRING
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(item: &str, count: usize) -> Vec<u8> {
        format!("[{}]", vec![item; count].join(",")).into_bytes()
    }

    #[test]
    fn amplifying_bodies_are_estimated_far_above_their_size() {
        let zeros = repeated("0", 100_000);
        assert!(parsed_size_estimate(&zeros) > 20 * zeros.len());
        let objects = repeated(r#"{"a":0}"#, 100_000);
        assert!(parsed_size_estimate(&objects) > 90 * objects.len());
    }

    #[test]
    fn nesting_past_the_parsers_limit_counts_only_up_to_it() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parsed_size_estimate(deep.as_bytes()) < 64 * 1024);
    }

    #[test]
    fn a_large_answer_of_connections_is_estimated_within_reason() {
        let item = r#"{"uuid":"00000000-1111-4111-8111-111111111111","category":"servers/a","connection":"host/sub","type":"ssh"}"#;
        let body = format!(
            r#"{{"found":{}}}"#,
            String::from_utf8(repeated(item, 10_000)).unwrap()
        );
        // Parsed, such an answer takes about six and a half times its text.
        let ratio = parsed_size_estimate(body.as_bytes()) as f64 / body.len() as f64;
        assert!((6.5..12.0).contains(&ratio), "{ratio}");
    }

    #[test]
    fn shrinking_gives_back_at_once() {
        let budget = MemoryBudget::new(4 * UNIT);
        let mut reservation = budget.reservation();
        assert!(tokio_test_block_on(reservation.grow_to(4 * UNIT)));
        reservation.shrink_to(UNIT);
        assert_eq!(reservation.bytes(), UNIT);
        assert_eq!(budget.units.available_permits(), 3);
    }

    fn tokio_test_block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn separators_inside_strings_do_not_count() {
        let plain = br#"["abcdefgh"]"#;
        let tricky = br#"["a,{[\"],"]"#;
        assert_eq!(plain.len(), tricky.len());
        assert_eq!(parsed_size_estimate(plain), parsed_size_estimate(tricky));
    }

    #[tokio::test]
    async fn reservations_wait_for_each_other_and_refuse_the_impossible() {
        let budget = MemoryBudget::new(10 * UNIT);
        let mut first = budget.reservation();
        assert!(first.grow_to(6 * UNIT).await);
        assert!(!first.grow_to(11 * UNIT).await);
        assert_eq!(first.bytes(), 6 * UNIT);

        let mut second = budget.reservation();
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            second.grow_to(5 * UNIT),
        );
        assert!(waiting.await.is_err(), "only 4 units were free");
        drop(first);
        assert!(second.grow_to(5 * UNIT).await);
    }
}
