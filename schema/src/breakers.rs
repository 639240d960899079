//! Circuit breakers: one per agent and per tool of a project, fed by every
//! stored span (a failure is an error status or an intervention other than
//! running or an approval granted). Too many failures inside the window open
//! the breaker; after the cooldown it is half-open, where one failure opens
//! it again and a few successes close it. Breakers only inform: spans
//! ingested while one is not closed carry `strathon.circuit_breaker.*`.
//!
//! The state lives in `circuit_breakers` and is updated by the ingest
//! writer inside the spans' own transaction, under row locks, so every
//! replica counts the same failures.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::ingest::SpanRow;
use crate::schema::circuit_breakers as breakers;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Failures inside `window` that open a closed breaker.
    pub threshold: usize,
    pub window: Duration,
    /// How long an open breaker stays open before it is half-open.
    pub cooldown: Duration,
    /// Successes that close a half-open breaker.
    pub half_open_max: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            threshold: 10,
            window: Duration::seconds(300),
            cooldown: Duration::seconds(60),
            half_open_max: 3,
        }
    }
}

/// One breaker's state as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = breakers)]
pub struct Breaker {
    pub project_id: Uuid,
    pub entity_type: String,
    pub entity_id: String,
    pub state: String,
    pub failures: Vec<DateTime<Utc>>,
    pub opened_at: Option<DateTime<Utc>>,
    pub half_open_successes: i32,
    pub total_trips: i32,
    pub updated_at: DateTime<Utc>,
}

pub const CLOSED: &str = "closed";
pub const OPEN: &str = "open";
pub const HALF_OPEN: &str = "half_open";

impl Breaker {
    pub fn new(project_id: Uuid, entity_type: &str, entity_id: &str) -> Breaker {
        Breaker {
            project_id,
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_owned(),
            state: CLOSED.to_owned(),
            failures: Vec::new(),
            opened_at: None,
            half_open_successes: 0,
            total_trips: 0,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    /// The state at `now`: an open breaker past its cooldown is half-open.
    pub fn state_at(&self, now: DateTime<Utc>, s: &Settings) -> &'static str {
        match self.state.as_str() {
            OPEN if self.opened_at.is_none_or(|at| now - at >= s.cooldown) => HALF_OPEN,
            OPEN => OPEN,
            HALF_OPEN => HALF_OPEN,
            _ => CLOSED,
        }
    }

    /// Failures counted toward opening at `now`.
    pub fn errors_in_window(&self, now: DateTime<Utc>, s: &Settings) -> usize {
        self.failures.iter().filter(|t| now - **t < s.window).count()
    }

    fn open(&mut self, now: DateTime<Utc>) {
        self.state = OPEN.to_owned();
        self.opened_at = Some(now);
        self.total_trips += 1;
        self.failures.clear();
        self.half_open_successes = 0;
    }

    /// Counts one span's outcome at `now`; returns the state it leaves the
    /// breaker in (what the span is annotated with).
    pub fn record(&mut self, failed: bool, now: DateTime<Utc>, s: &Settings) -> &'static str {
        let state = self.state_at(now, s);
        if state == HALF_OPEN && self.state != HALF_OPEN {
            self.state = HALF_OPEN.to_owned();
            self.half_open_successes = 0;
        }
        match state {
            CLOSED if failed => {
                self.failures.retain(|t| now - *t < s.window);
                self.failures.push(now);
                if self.failures.len() >= s.threshold {
                    self.open(now);
                }
            }
            HALF_OPEN if failed => self.open(now),
            HALF_OPEN => {
                self.half_open_successes += 1;
                if self.half_open_successes >= s.half_open_max {
                    self.state = CLOSED.to_owned();
                    self.half_open_successes = 0;
                    self.failures.clear();
                    self.opened_at = None;
                }
            }
            _ => {}
        }
        self.state_at(now, s)
    }

    /// Back to closed with nothing counted (an operator's reset).
    pub fn reset(&mut self) {
        self.state = CLOSED.to_owned();
        self.failures.clear();
        self.opened_at = None;
        self.half_open_successes = 0;
    }
}

/// Whether a span counts as a failure.
pub fn failed(status_code: &str, intervention_state: Option<&str>) -> bool {
    status_code == "ERROR" || intervention_state.is_some_and(|s| !matches!(s, "running" | "approval_granted"))
}

/// Severity order for annotating a span with the worse of its two breakers.
pub fn rank(state: &str) -> u8 {
    match state {
        OPEN => 2,
        HALF_OPEN => 1,
        _ => 0,
    }
}

/// What a stored span carries when its agent's or tool's breaker is not
/// closed: the state and the breaker (`agent:<name>` or `tool:<name>`).
pub type Note = (&'static str, String);

const READ_SQL: &str = "
SELECT b.project_id, b.entity_type, b.entity_id, b.state, b.failures, b.opened_at,
       b.half_open_successes, b.total_trips, b.updated_at
FROM circuit_breakers b
JOIN unnest($1::uuid[], $2::text[], $3::text[]) AS k(project_id, entity_type, entity_id)
  ON b.project_id = k.project_id AND b.entity_type = k.entity_type AND b.entity_id = k.entity_id
ORDER BY 1, 2, 3";

const SAVE_SQL: &str = "
UPDATE circuit_breakers b SET
    state = u.state,
    failures = ARRAY(SELECT jsonb_array_elements_text(u.failures)::timestamptz),
    opened_at = u.opened_at,
    half_open_successes = u.half_open_successes,
    total_trips = u.total_trips,
    updated_at = now()
FROM jsonb_to_recordset($1::jsonb) AS u(project_id uuid, entity_type text, entity_id text, state text,
    failures jsonb, opened_at timestamptz, half_open_successes int, total_trips int)
WHERE b.project_id = u.project_id AND b.entity_type = u.entity_type AND b.entity_id = u.entity_id";

/// A breaker's identity: project, entity type, entity id.
pub type Key = (Uuid, String, String);

/// The breakers a group of spans feeds, in lock order.
fn keys<'a>(rows: &[&'a SpanRow]) -> BTreeSet<(Uuid, &'static str, &'a str)> {
    let mut keys = BTreeSet::new();
    for r in rows {
        if let Some(agent) = &r.agent_name {
            keys.insert((r.project_id, "agent", agent.as_str()));
            if let Some(tool) = &r.tool_name {
                keys.insert((r.project_id, "tool", tool.as_str()));
            }
        }
    }
    keys
}

/// The key columns of `keys`, as the unnest parameters of the statements.
fn columns<'a>(keys: &BTreeSet<(Uuid, &'static str, &'a str)>) -> (Vec<Uuid>, Vec<&'static str>, Vec<&'a str>) {
    (
        keys.iter().map(|k| k.0).collect(),
        keys.iter().map(|k| k.1).collect(),
        keys.iter().map(|k| k.2).collect(),
    )
}

/// Runs each span's outcome through its breakers in start-time order and
/// returns each span's note. Pure: `stored` holds every breaker the rows
/// feed (a missing one counts as new and closed) and is updated in place.
pub fn feed(
    rows: &[&SpanRow],
    stored: &mut BTreeMap<Key, Breaker>,
    now: DateTime<Utc>,
    s: &Settings,
) -> Vec<Option<Note>> {
    let mut notes: Vec<Option<Note>> = vec![None; rows.len()];
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i].start_time_unix_nano);
    // A span sent twice in one group is one outcome, and both copies carry
    // its note (whichever copy is kept).
    let mut first: HashMap<(Uuid, &[u8], &[u8]), usize> = HashMap::new();
    for i in order {
        let r = rows[i];
        let Some(agent) = &r.agent_name else { continue };
        if let Some(&j) = first.get(&(r.project_id, r.trace_id.as_slice(), r.span_id.as_slice())) {
            notes[i] = notes[j].clone();
            continue;
        }
        first.insert((r.project_id, &r.trace_id, &r.span_id), i);
        let failed = failed(r.status_code, r.intervention_state.as_deref());
        let mut feed = |kind: &str, name: &str| {
            let key = (r.project_id, kind.to_owned(), name.to_owned());
            let b = stored
                .entry(key)
                .or_insert_with(|| Breaker::new(r.project_id, kind, name));
            (b.record(failed, now, s), format!("{kind}:{name}"))
        };
        let mut worst = feed("agent", agent);
        if let Some(tool) = &r.tool_name {
            let by_tool = feed("tool", tool);
            if rank(by_tool.0) > rank(worst.0) {
                worst = by_tool;
            }
        }
        notes[i] = Some(worst).filter(|(state, _)| *state != CLOSED);
    }
    notes
}

/// The stored breakers among `keys`; with `lock`, row-locked until commit.
async fn read(
    tx: &tokio_postgres::Transaction<'_>,
    keys: &BTreeSet<(Uuid, &'static str, &str)>,
    lock: bool,
) -> Result<BTreeMap<Key, Breaker>, tokio_postgres::Error> {
    let (projects, types, ids) = columns(keys);
    let sql = if lock {
        format!("{READ_SQL} FOR UPDATE OF b")
    } else {
        READ_SQL.to_owned()
    };
    let mut stored = BTreeMap::new();
    for row in tx.query(&sql, &[&projects, &types, &ids]).await? {
        let b = Breaker {
            project_id: row.get(0),
            entity_type: row.get(1),
            entity_id: row.get(2),
            state: row.get(3),
            failures: row.get(4),
            opened_at: row.get(5),
            half_open_successes: row.get(6),
            total_trips: row.get(7),
            updated_at: row.get(8),
        };
        stored.insert((b.project_id, b.entity_type.clone(), b.entity_id.clone()), b);
    }
    Ok(stored)
}

/// The notes a group would get from the breakers as they stand, without
/// locking or changing them. Parallel writers use it to annotate spans
/// before the breakers are theirs; `step` later corrects the few a
/// concurrent group changed.
pub(crate) async fn peek(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&SpanRow],
    s: &Settings,
) -> Result<Vec<Option<Note>>, tokio_postgres::Error> {
    let keys = keys(rows);
    if keys.is_empty() {
        return Ok(vec![None; rows.len()]);
    }
    let mut stored = read(tx, &keys, false).await?;
    Ok(feed(rows, &mut stored, Utc::now(), s))
}

/// Feeds a group of spans to their breakers inside the ingest transaction:
/// locks the breakers (in one order for every writer, so concurrent groups
/// cannot deadlock), feeds them, saves what changed, and returns each
/// span's note.
pub(crate) async fn step(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[&SpanRow],
    s: &Settings,
) -> Result<Vec<Option<Note>>, tokio_postgres::Error> {
    let keys = keys(rows);
    if keys.is_empty() {
        return Ok(vec![None; rows.len()]);
    }
    let (projects, types, ids) = columns(&keys);
    tx.execute(
        "INSERT INTO circuit_breakers (project_id, entity_type, entity_id)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) ORDER BY 1, 2, 3
         ON CONFLICT DO NOTHING",
        &[&projects, &types, &ids],
    )
    .await?;
    let before = read(tx, &keys, true).await?;
    let mut after = before.clone();
    let notes = feed(rows, &mut after, Utc::now(), s);
    let changed: Vec<serde_json::Value> = after
        .iter()
        .filter(|(key, b)| before.get(*key) != Some(*b))
        .map(|(_, b)| {
            serde_json::json!({
                "project_id": b.project_id, "entity_type": b.entity_type, "entity_id": b.entity_id,
                "state": b.state, "failures": b.failures, "opened_at": b.opened_at,
                "half_open_successes": b.half_open_successes, "total_trips": b.total_trips,
            })
        })
        .collect();
    if !changed.is_empty() {
        tx.execute(SAVE_SQL, &[&tokio_postgres::types::Json(&changed)]).await?;
    }
    Ok(notes)
}

pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<Breaker>> {
    breakers::table
        .filter(breakers::project_id.eq(project_id))
        .order((breakers::entity_type.asc(), breakers::entity_id.asc()))
        .select(Breaker::as_select())
        .load(conn)
        .await
}

/// Closes a breaker and forgets its failures; None when there is none.
pub async fn reset(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    entity_type: &str,
    entity_id: &str,
) -> QueryResult<Option<Breaker>> {
    diesel::update(breakers::table.find((project_id, entity_type, entity_id)))
        .set((
            breakers::state.eq(CLOSED),
            breakers::failures.eq(Vec::<DateTime<Utc>>::new()),
            breakers::opened_at.eq(None::<DateTime<Utc>>),
            breakers::half_open_successes.eq(0),
            breakers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Breaker::as_returning())
        .get_result(conn)
        .await
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            threshold: 3,
            window: Duration::seconds(60),
            cooldown: Duration::seconds(30),
            half_open_max: 2,
        }
    }

    #[test]
    fn failures_inside_the_window_open_it_and_the_cooldown_half_opens_it() {
        let s = settings();
        let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut b = Breaker::new(Uuid::nil(), "agent", "a");
        assert_eq!(b.record(true, t0, &s), CLOSED);
        // The first failure leaves the window before the third arrives.
        assert_eq!(b.record(true, t0 + Duration::seconds(61), &s), CLOSED);
        assert_eq!(b.errors_in_window(t0 + Duration::seconds(61), &s), 1);
        assert_eq!(b.record(false, t0 + Duration::seconds(62), &s), CLOSED);
        assert_eq!(b.record(true, t0 + Duration::seconds(63), &s), CLOSED);
        assert_eq!(b.record(true, t0 + Duration::seconds(64), &s), OPEN);
        assert_eq!(b.total_trips, 1);
        // Open ignores outcomes until the cooldown is over.
        assert_eq!(b.record(true, t0 + Duration::seconds(70), &s), OPEN);
        assert_eq!(b.total_trips, 1);
        let later = t0 + Duration::seconds(95);
        assert_eq!(b.state_at(later, &s), HALF_OPEN);
        assert_eq!(b.record(false, later, &s), HALF_OPEN);
        assert_eq!(b.record(false, later, &s), CLOSED);
        assert_eq!(b.errors_in_window(later, &s), 0);
    }

    #[test]
    fn a_failure_while_half_open_opens_it_again() {
        let s = settings();
        let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
        let mut b = Breaker::new(Uuid::nil(), "tool", "t");
        for _ in 0..3 {
            b.record(true, t0, &s);
        }
        assert_eq!(b.state, OPEN);
        let later = t0 + Duration::seconds(31);
        assert_eq!(b.record(false, later, &s), HALF_OPEN);
        assert_eq!(b.record(true, later, &s), OPEN);
        assert_eq!((b.total_trips, b.opened_at), (2, Some(later)));
        b.reset();
        assert_eq!(b.state_at(later, &s), CLOSED);
    }

    #[test]
    fn feeding_a_group_notes_spans_once_the_breaker_opens() {
        let s = settings();
        let t0 = DateTime::UNIX_EPOCH + Duration::days(20_000);
        let row = |span: u8, status: &'static str| SpanRow {
            start_time_unix_nano: i64::from(span),
            trace_id: vec![1; 16],
            span_id: vec![span; 8],
            status_code: status,
            agent_name: Some("a".into()),
            tool_name: Some("t".into()),
            ..SpanRow::default()
        };
        let rows = [
            row(1, "ERROR"),
            row(2, "ERROR"),
            row(3, "ERROR"),
            row(4, "OK"),
            row(3, "ERROR"),
        ];
        let refs: Vec<&SpanRow> = rows.iter().collect();
        // Nothing stored yet: both breakers start closed.
        let mut stored = BTreeMap::new();
        let notes = feed(&refs, &mut stored, t0, &s);
        assert_eq!(notes[0], None);
        assert_eq!(notes[1], None);
        // The third failure opens the agent's breaker (checked first) ...
        assert_eq!(notes[2], Some((OPEN, "agent:a".to_owned())));
        assert_eq!(notes[3], Some((OPEN, "agent:a".to_owned())));
        // ... and the same span sent again is one outcome with the same note.
        assert_eq!(notes[4], notes[2]);
        let agent = &stored[&(Uuid::default(), "agent".to_owned(), "a".to_owned())];
        assert_eq!((agent.state.as_str(), agent.total_trips), (OPEN, 1));
        // Fed again, an already-open breaker keeps noting without a new trip.
        let again = feed(&refs[3..4], &mut stored, t0, &s);
        assert_eq!(again[0], Some((OPEN, "agent:a".to_owned())));
        assert_eq!(
            stored[&(Uuid::default(), "tool".to_owned(), "t".to_owned())].total_trips,
            1
        );
    }

    #[test]
    fn what_counts_as_a_failure() {
        assert!(failed("ERROR", None));
        assert!(failed("OK", Some("blocked")));
        assert!(!failed("OK", Some("running")));
        assert!(!failed("UNSET", Some("approval_granted")));
        assert!(!failed("OK", None));
        assert!(rank(OPEN) > rank(HALF_OPEN) && rank(HALF_OPEN) > rank(CLOSED));
    }
}
