//! One limited priority level: its seats and its queues.
//!
//! A level may run requests worth `limit` seats at once. A request that does
//! not fit waits in one of the level's queues, or is rejected at once when
//! the level does not queue (`limitResponse.type: Reject`).
//!
//! Fairness between flows comes from two pieces, as upstream's queue sets:
//! - **shuffle sharding**: a flow is dealt a hand of `handSize` queues out of
//!   `queues` (from its hash) and each of its requests joins the shortest
//!   queue of its hand, so a heavy flow fills only its own hand and rarely
//!   shares all of it with another flow;
//! - **fair queuing** between queues: each queue carries a virtual start
//!   time that advances by the seats of every request it sends out, and a
//!   freed seat goes to the non-empty queue whose next request has the
//!   earliest start (self-clocked fair queuing). A queue that was idle starts
//!   at the level's current virtual time, so a light flow is served next
//!   instead of behind a heavy flow's backlog.
//!
//! A request waits at most its wait limit, then is rejected (`time-out`);
//! a full queue (`queueLengthLimit`) rejects at once (`queue-full`).
//! Seats are held by a [`Seat`] and come back when it is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A level's queueing parameters (`spec.limited.limitResponse.queuing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queuing {
    /// `queues`.
    pub queues: usize,
    /// `handSize`.
    pub hand_size: usize,
    /// `queueLengthLimit`.
    pub queue_length_limit: usize,
}

/// Why a request was not admitted, as upstream's metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Its queue held `queueLengthLimit` requests already.
    QueueFull,
    /// The level was full and does not queue.
    ConcurrencyLimit,
    /// It waited its whole wait limit.
    TimeOut,
}

impl Rejection {
    /// The `reason` label of `apiserver_flowcontrol_rejected_requests_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue-full",
            Rejection::ConcurrencyLimit => "concurrency-limit",
            Rejection::TimeOut => "time-out",
        }
    }
}

/// Counts of what a level did, for the debug dump and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Seats in use now.
    pub executing_seats: u32,
    /// Requests holding seats now.
    pub executing_requests: u32,
    /// Requests waiting in queues now.
    pub waiting: usize,
    /// Queues with a waiting request.
    pub active_queues: usize,
    /// Requests admitted so far.
    pub dispatched: u64,
    /// Requests rejected so far (any reason).
    pub rejected: u64,
}

/// One limited priority level's seats and queues.
#[derive(Debug)]
pub struct QueueSet {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    limit: u32,
    queuing: Option<Queuing>,
    queues: Vec<Queue>,
    /// Bumped when the queues are rebuilt: a seat of an older generation
    /// no longer knows its queue.
    generation: u64,
    executing_seats: u32,
    executing_requests: u32,
    waiting: usize,
    virtual_time: f64,
    next_id: u64,
    dispatched: u64,
    rejected: u64,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Waiter>,
    next_start: f64,
    executing_seats: u32,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    seats: u32,
    flow: u64,
    since: Instant,
    reply: oneshot::Sender<Seat>,
}

/// Seats held by an admitted request; dropping it gives them back and lets
/// the next waiting request in.
#[derive(Debug)]
pub struct Seat {
    set: Arc<QueueSet>,
    queue: Option<(u64, usize)>,
    seats: u32,
    waited: Duration,
}

impl Seat {
    /// How long the request waited in its queue.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        if self.seats > 0 {
            let mut st = self.set.lock();
            st.release(self.queue, self.seats);
            self.set.dispatch(&mut st);
        }
    }
}

/// Takes a waiting request out of its queue if it is still there when the
/// caller stops waiting (the client went away, or its wait limit passed).
struct Withdraw<'a> {
    set: &'a Arc<QueueSet>,
    id: u64,
    armed: bool,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.set.withdraw(self.id);
        }
    }
}

enum Enqueued {
    Now(Seat),
    Waiting(u64, oneshot::Receiver<Seat>),
}

impl QueueSet {
    /// A level of `limit` seats that queues as `queuing` says (or rejects
    /// what does not fit, when `None`).
    pub fn new(limit: u32, queuing: Option<Queuing>) -> Arc<QueueSet> {
        let set = Arc::new(QueueSet {
            state: Mutex::new(State {
                limit: limit.max(1),
                queuing: None,
                queues: Vec::new(),
                generation: 0,
                executing_seats: 0,
                executing_requests: 0,
                waiting: 0,
                virtual_time: 0.0,
                next_id: 0,
                dispatched: 0,
                rejected: 0,
            }),
        });
        set.reconfigure(limit, queuing);
        set
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Applies a changed configuration. Waiting requests keep waiting: when
    /// the queues change shape they are dealt again into the new ones.
    pub fn reconfigure(self: &Arc<Self>, limit: u32, queuing: Option<Queuing>) {
        let mut st = self.lock();
        st.limit = limit.max(1);
        if st.queuing != queuing || st.queues.is_empty() {
            let old: Vec<Waiter> = st
                .queues
                .iter_mut()
                .flat_map(|q| q.waiting.drain(..))
                .collect();
            let count = queuing.map_or(1, |q| q.queues.max(1));
            st.queues = (0..count).map(|_| Queue::default()).collect();
            st.queuing = queuing;
            st.generation += 1;
            st.waiting = 0;
            for w in old {
                let index = st.pick_queue(w.flow);
                st.queues[index].waiting.push_back(w);
                st.waiting += 1;
            }
        }
        self.dispatch(&mut st);
    }

    /// What the level is doing now.
    pub fn counts(&self) -> Counts {
        let st = self.lock();
        Counts {
            executing_seats: st.executing_seats,
            executing_requests: st.executing_requests,
            waiting: st.waiting,
            active_queues: st.queues.iter().filter(|q| !q.waiting.is_empty()).count(),
            dispatched: st.dispatched,
            rejected: st.rejected,
        }
    }

    /// Admits a request of flow `flow` needing `seats`, waiting up to
    /// `wait_limit` for them.
    pub async fn acquire(
        self: &Arc<Self>,
        flow: u64,
        seats: u32,
        wait_limit: Duration,
    ) -> Result<Seat, Rejection> {
        let (id, mut reply) = match self.enqueue(flow, seats)? {
            Enqueued::Now(seat) => return Ok(seat),
            Enqueued::Waiting(id, reply) => (id, reply),
        };
        let mut withdraw = Withdraw {
            set: self,
            id,
            armed: true,
        };
        match tokio::time::timeout(wait_limit, &mut reply).await {
            Ok(Ok(seat)) => {
                withdraw.armed = false;
                Ok(seat)
            }
            // The sender went away without a seat: the set dropped it.
            Ok(Err(_)) => Err(Rejection::TimeOut),
            Err(_) => {
                withdraw.armed = false;
                if self.withdraw(id) {
                    return Err(Rejection::TimeOut);
                }
                // Dispatched while the timer fired.
                reply.try_recv().map_err(|_| Rejection::TimeOut)
            }
        }
    }

    fn enqueue(self: &Arc<Self>, flow: u64, seats: u32) -> Result<Enqueued, Rejection> {
        let mut st = self.lock();
        // A request wider than the level would never start.
        let seats = seats.clamp(1, st.limit);
        if st.waiting == 0 && st.fits(seats) {
            let index = st.pick_queue(flow);
            let seat = st.start(self, index, seats, Duration::ZERO);
            return Ok(Enqueued::Now(seat));
        }
        let Some(queuing) = st.queuing else {
            st.rejected += 1;
            return Err(Rejection::ConcurrencyLimit);
        };
        let index = st.pick_queue(flow);
        if st.queues[index].waiting.len() >= queuing.queue_length_limit {
            st.rejected += 1;
            return Err(Rejection::QueueFull);
        }
        let id = st.next_id;
        st.next_id += 1;
        let (reply, rx) = oneshot::channel();
        st.queues[index].waiting.push_back(Waiter {
            id,
            seats,
            flow,
            since: Instant::now(),
            reply,
        });
        st.waiting += 1;
        self.dispatch(&mut st);
        Ok(Enqueued::Waiting(id, rx))
    }

    /// Removes a waiting request; false if it is not waiting any more.
    fn withdraw(&self, id: u64) -> bool {
        let mut st = self.lock();
        for q in &mut st.queues {
            if let Some(pos) = q.waiting.iter().position(|w| w.id == id) {
                q.waiting.remove(pos);
                st.waiting -= 1;
                st.rejected += 1;
                return true;
            }
        }
        false
    }

    /// Starts waiting requests while their seats fit, fairest queue first.
    fn dispatch(self: &Arc<Self>, st: &mut State) {
        loop {
            let Some(index) = st.fairest_queue() else {
                return;
            };
            let seats = st.queues[index].waiting.front().map_or(1, |w| w.seats);
            if !st.fits(seats) {
                return;
            }
            let Some(waiter) = st.queues[index].waiting.pop_front() else {
                return;
            };
            st.waiting -= 1;
            let seat = st.start(self, index, waiter.seats, waiter.since.elapsed());
            if let Err(mut unwanted) = waiter.reply.send(seat) {
                // The caller is gone: give the seats straight back (the
                // seat's own drop would take the lock we hold).
                let (queue, seats) = (unwanted.queue, unwanted.seats);
                unwanted.seats = 0;
                st.release(queue, seats);
                st.dispatched -= 1;
            }
        }
    }
}

impl State {
    fn fits(&self, seats: u32) -> bool {
        self.executing_seats == 0 || self.executing_seats + seats <= self.limit
    }

    /// The shortest queue (waiting plus executing seats) of the flow's hand.
    fn pick_queue(&self, flow: u64) -> usize {
        let Some(queuing) = self.queuing else {
            return 0;
        };
        let hand = deal(flow, self.queues.len(), queuing.hand_size.max(1));
        hand.into_iter()
            .min_by_key(|&i| {
                let q = &self.queues[i];
                let waiting: u32 = q.waiting.iter().map(|w| w.seats).sum();
                waiting + q.executing_seats
            })
            .unwrap_or(0)
    }

    /// The non-empty queue whose next request has the earliest virtual start.
    fn fairest_queue(&self) -> Option<usize> {
        let now = self.virtual_time;
        self.queues
            .iter()
            .enumerate()
            .filter(|(_, q)| !q.waiting.is_empty())
            .min_by(|(_, a), (_, b)| a.next_start.max(now).total_cmp(&b.next_start.max(now)))
            .map(|(i, _)| i)
    }

    fn start(&mut self, set: &Arc<QueueSet>, index: usize, seats: u32, waited: Duration) -> Seat {
        let q = &mut self.queues[index];
        let start = q.next_start.max(self.virtual_time);
        q.next_start = start + f64::from(seats);
        q.executing_seats += seats;
        self.virtual_time = start;
        self.executing_seats += seats;
        self.executing_requests += 1;
        self.dispatched += 1;
        Seat {
            set: Arc::clone(set),
            queue: Some((self.generation, index)),
            seats,
            waited,
        }
    }

    fn release(&mut self, queue: Option<(u64, usize)>, seats: u32) {
        self.executing_seats = self.executing_seats.saturating_sub(seats);
        self.executing_requests = self.executing_requests.saturating_sub(1);
        if let Some((generation, index)) = queue {
            if generation == self.generation {
                if let Some(q) = self.queues.get_mut(index) {
                    q.executing_seats = q.executing_seats.saturating_sub(seats);
                }
            }
        }
    }
}

/// Shuffle sharding: deals `hand` distinct cards out of a deck of `deck`,
/// drawing each from what is left of `hash` (a mixed-radix number), as a
/// dealer who shuffles by the hash.
pub fn deal(hash: u64, deck: usize, hand: usize) -> Vec<usize> {
    let hand = hand.min(deck);
    let mut picked: Vec<usize> = Vec::with_capacity(hand);
    let mut rest = hash;
    for i in 0..hand {
        let remaining = (deck - i) as u64;
        let mut card = (rest % remaining) as usize;
        rest /= remaining;
        // `card` counts among the cards not dealt yet: step over the dealt ones.
        let mut dealt = picked.clone();
        dealt.sort_unstable();
        for d in dealt {
            if card >= d {
                card += 1;
            }
        }
        picked.push(card);
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    fn queuing(queues: usize, hand_size: usize, limit: usize) -> Option<Queuing> {
        Some(Queuing {
            queues,
            hand_size,
            queue_length_limit: limit,
        })
    }

    #[test]
    fn a_hand_is_distinct_cards_of_the_deck() {
        for hash in [0u64, 1, 42, u64::MAX, 0xdead_beef_cafe] {
            let hand = deal(hash, 128, 6);
            assert_eq!(hand.len(), 6);
            let mut sorted = hand.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 6, "{hand:?}");
            assert!(hand.iter().all(|&c| c < 128));
        }
        assert_eq!(deal(7, 3, 8).len(), 3);
    }

    #[tokio::test]
    async fn requests_past_the_limit_wait_and_start_when_seats_free() {
        let set = QueueSet::new(2, queuing(4, 2, 10));
        let a = set.acquire(1, 1, WAIT).await.expect("a");
        let _b = set.acquire(2, 1, WAIT).await.expect("b");
        let waiting = tokio::spawn({
            let set = Arc::clone(&set);
            async move { set.acquire(3, 1, WAIT).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(set.counts().waiting, 1);
        drop(a);
        assert!(waiting.await.expect("joins"));
        assert_eq!(
            set.counts().executing_seats,
            1,
            "the third's seat was dropped"
        );
    }

    #[tokio::test]
    async fn a_level_that_does_not_queue_rejects_at_once() {
        let set = QueueSet::new(1, None);
        let _a = set.acquire(1, 1, WAIT).await.expect("a");
        assert_eq!(
            set.acquire(1, 1, WAIT).await.err(),
            Some(Rejection::ConcurrencyLimit)
        );
    }

    #[tokio::test]
    async fn a_full_queue_rejects_and_a_long_wait_times_out() {
        let set = QueueSet::new(1, queuing(1, 1, 1));
        let _a = set.acquire(1, 1, WAIT).await.expect("a");
        let waiter = tokio::spawn({
            let set = Arc::clone(&set);
            async move { set.acquire(1, 1, Duration::from_millis(100)).await.err() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            set.acquire(1, 1, WAIT).await.err(),
            Some(Rejection::QueueFull)
        );
        assert_eq!(waiter.await.expect("joins"), Some(Rejection::TimeOut));
        assert_eq!(set.counts().waiting, 0);
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_its_queue() {
        let set = QueueSet::new(1, queuing(1, 1, 5));
        let a = set.acquire(1, 1, WAIT).await.expect("a");
        let waiter = tokio::spawn({
            let set = Arc::clone(&set);
            async move { set.acquire(1, 1, WAIT).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(set.counts().waiting, 0);
        drop(a);
        assert_eq!(set.counts().executing_seats, 0);
    }

    /// A heavy flow with a backlog does not make a light flow wait behind
    /// it: the light flow's next request starts at the next free seat.
    #[tokio::test]
    async fn a_light_flow_overtakes_a_heavy_backlog() {
        let set = QueueSet::new(1, queuing(16, 2, 100));
        let first = set.acquire(100, 1, WAIT).await.expect("first");
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..20 {
            let (set, order) = (Arc::clone(&set), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let seat = set.acquire(100, 1, WAIT).await.expect("heavy");
                order.lock().expect("order").push(format!("heavy{i}"));
                drop(seat);
            }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let light = {
            let (set, order) = (Arc::clone(&set), Arc::clone(&order));
            tokio::spawn(async move {
                let seat = set.acquire(7, 1, WAIT).await.expect("light");
                order.lock().expect("order").push("light".into());
                drop(seat);
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        light.await.expect("light joins");
        for t in tasks {
            t.await.expect("heavy joins");
        }
        let order = order.lock().expect("order").clone();
        let at = order.iter().position(|o| o == "light").expect("light ran");
        assert!(
            at <= 2,
            "light ran {at}th after the heavy backlog: {order:?}"
        );
    }

    #[tokio::test]
    async fn reconfiguring_keeps_the_waiting_requests() {
        let set = QueueSet::new(1, queuing(8, 2, 10));
        let a = set.acquire(1, 1, WAIT).await.expect("a");
        let waiter = tokio::spawn({
            let set = Arc::clone(&set);
            async move { set.acquire(5, 1, WAIT).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        set.reconfigure(1, queuing(4, 1, 10));
        assert_eq!(set.counts().waiting, 1);
        drop(a);
        assert!(waiter.await.expect("joins"));
    }
}
