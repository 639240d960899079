//! Monthly span partitions: naming, bounds and the DDL that keeps them.
//!
//! A child covers one UTC calendar month of `start_time_unix_nano`:
//! `spans_y2026m05` holds `[2026-05-01T00:00Z, 2026-06-01T00:00Z)` in ns.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl};

/// Transaction-scoped lock serializing partition DDL between replicas and
/// between startup and the maintainer ("StraPDDL").
const DDL_LOCK: i64 = 0x5374_7261_5044_444c;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    /// 1-based.
    pub month: u32,
}

impl Month {
    pub fn of(ts: DateTime<Utc>) -> Self {
        Month {
            year: ts.year(),
            month: ts.month(),
        }
    }

    /// The month `offset` months away (negative for the past).
    pub fn plus(self, offset: i32) -> Self {
        let index = self.year * 12 + (self.month as i32 - 1) + offset;
        Month {
            year: index.div_euclid(12),
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    pub fn start_ns(self) -> i64 {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(|dt| dt.and_utc().timestamp_nanos_opt())
            // Years outside the ns-representable range (1677..2262) are never
            // asked for by the maintainer; clamp rather than panic.
            .unwrap_or(if self.year < 1970 { i64::MIN } else { i64::MAX })
    }

    pub fn end_ns(self) -> i64 {
        self.plus(1).start_ns()
    }

    pub fn span_partition(self) -> String {
        format!("spans_y{:04}m{:02}", self.year, self.month)
    }

    pub fn parse_span_partition(name: &str) -> Option<Month> {
        let rest = name.strip_prefix("spans_y")?;
        let (year, month) = rest.split_once('m')?;
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let month: u32 = month.parse().ok()?;
        (1..=12).contains(&month).then_some(Month { year, month })
    }
}

/// `audit.events_2026_05` for May 2026.
pub fn audit_partition(m: Month) -> String {
    format!("events_{:04}_{:02}", m.year, m.month)
}

/// Months of audit partitions kept ready: this one and three ahead. Audit
/// partitions are never dropped.
pub fn audit_months(now: DateTime<Utc>) -> Vec<Month> {
    let current = Month::of(now);
    (0..=3).map(|offset| current.plus(offset)).collect()
}

/// Creates missing audit partitions among `months`; returns those created.
pub async fn ensure_audit(conn: &mut AsyncPgConnection, months: &[Month]) -> diesel::QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        present: bool,
    }
    let months = months.to_vec();
    conn.transaction(async |conn| {
        lock_ddl(conn).await?;
        let mut created = Vec::new();
        for m in months {
            let name = audit_partition(m);
            let row: Exists = diesel::sql_query("SELECT to_regclass('audit.' || $1) IS NOT NULL AS present")
                .bind::<Text, _>(&name)
                .get_result(conn)
                .await?;
            if row.present {
                continue;
            }
            let next = m.plus(1);
            // Bounds are UTC instants, whatever the session's time zone.
            let ddl = format!(
                "CREATE TABLE audit.{name} PARTITION OF audit.events FOR VALUES FROM ('{:04}-{:02}-01 00:00:00+00') TO ('{:04}-{:02}-01 00:00:00+00')",
                m.year, m.month, next.year, next.month
            );
            diesel::sql_query(ddl).execute(conn).await?;
            created.push(name);
        }
        Ok(created)
    })
    .await
}

/// Months the maintainer keeps: last month through three months ahead.
pub fn wanted_months(now: DateTime<Utc>) -> Vec<Month> {
    let current = Month::of(now);
    (-1..=3).map(|offset| current.plus(offset)).collect()
}

/// Existing partitions whose whole month lies before the retention cutoff
/// (the first day of the month `retention_months` before the current one).
pub fn expired(existing: &[String], now: DateTime<Utc>, retention_months: u32) -> Vec<String> {
    let cutoff = Month::of(now).plus(-(retention_months as i32));
    existing
        .iter()
        .filter(|name| Month::parse_span_partition(name).is_some_and(|m| m < cutoff))
        .cloned()
        .collect()
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Names of the current children of `spans`.
pub async fn list(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Vec<String>> {
    let rows: Vec<NameRow> = diesel::sql_query(
        "SELECT c.relname::text AS name FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent \
         WHERE p.relname = 'spans' ORDER BY 1",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

async fn lock_ddl(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    // Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog.
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<BigInt, _>(DDL_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates any missing partition among `months`; returns the names created.
pub async fn ensure(conn: &mut AsyncPgConnection, months: &[Month]) -> diesel::QueryResult<Vec<String>> {
    let months = months.to_vec();
    conn.transaction(async |conn| {
        lock_ddl(conn).await?;
        let existing = list(conn).await?;
        let mut created = Vec::new();
        for month in months {
            let name = month.span_partition();
            if existing.contains(&name) {
                continue;
            }
            // Names and bounds are generated from integers, never from input.
            let ddl = format!(
                "CREATE TABLE {name} PARTITION OF spans FOR VALUES FROM ({}) TO ({})",
                month.start_ns(),
                month.end_ns()
            );
            diesel::sql_query(ddl).execute(conn).await?;
            created.push(name);
        }
        Ok(created)
    })
    .await
}

#[derive(QueryableByName)]
struct ChildRow {
    #[diesel(sql_type = Text)]
    name: String,
    /// A detach interrupted half-way (the process died during it).
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pending: bool,
}

/// Drops the partitions `expired` selects; returns the names dropped.
///
/// A plain `DROP TABLE` of a partition takes an exclusive lock on `spans`
/// itself: it would queue behind any long dashboard query and stall every
/// ingest writer behind it. So each partition is first detached
/// `CONCURRENTLY` (which only waits for those readers, without blocking
/// anyone) and dropped once it stands alone. That cannot run in a
/// transaction, so the DDL lock is held for the session meanwhile.
pub async fn drop_expired(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    retention_months: u32,
) -> diesel::QueryResult<Vec<String>> {
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(DDL_LOCK)
        .execute(conn)
        .await?;
    let dropped = drop_locked(conn, now, retention_months).await;
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(DDL_LOCK)
        .execute(conn)
        .await;
    let dropped = dropped?;
    unlocked?;
    Ok(dropped)
}

async fn drop_locked(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    retention_months: u32,
) -> diesel::QueryResult<Vec<String>> {
    let children: Vec<ChildRow> = diesel::sql_query(
        "SELECT c.relname::text AS name, i.inhdetachpending AS pending FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent \
         WHERE p.relname = 'spans' ORDER BY 1",
    )
    .load(conn)
    .await?;
    let names: Vec<String> = children.iter().map(|c| c.name.clone()).collect();
    let doomed = expired(&names, now, retention_months);
    for name in &doomed {
        let pending = children.iter().any(|c| &c.name == name && c.pending);
        // Names come from `expired`, which only passes our own pattern.
        let detach = if pending {
            format!("ALTER TABLE spans DETACH PARTITION {name} FINALIZE")
        } else {
            format!("ALTER TABLE spans DETACH PARTITION {name} CONCURRENTLY")
        };
        diesel::sql_query(detach).execute(conn).await?;
        diesel::sql_query(format!("DROP TABLE IF EXISTS {name}"))
            .execute(conn)
            .await?;
    }
    Ok(doomed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn names_and_bounds_follow_utc_months() {
        let may = Month { year: 2026, month: 5 };
        assert_eq!(may.span_partition(), "spans_y2026m05");
        assert_eq!(may.start_ns(), 1_777_593_600_000_000_000);
        assert_eq!(may.end_ns(), Month { year: 2026, month: 6 }.start_ns());
        assert_eq!(Month::parse_span_partition("spans_y2026m05"), Some(may));
        assert_eq!(Month::parse_span_partition("spans_y2026m13"), None);
        assert_eq!(Month::parse_span_partition("spans_default"), None);
    }

    #[test]
    fn month_arithmetic_crosses_years() {
        let jan = Month { year: 2027, month: 1 };
        assert_eq!(jan.plus(-1), Month { year: 2026, month: 12 });
        assert_eq!(jan.plus(14), Month { year: 2028, month: 3 });
        assert_eq!(jan.plus(-13), Month { year: 2025, month: 12 });
    }

    #[test]
    fn keeps_last_month_through_three_ahead() {
        let names: Vec<String> = wanted_months(at(2026, 1, 15))
            .iter()
            .map(|m| m.span_partition())
            .collect();
        assert_eq!(
            names,
            [
                "spans_y2025m12",
                "spans_y2026m01",
                "spans_y2026m02",
                "spans_y2026m03",
                "spans_y2026m04"
            ]
        );
    }

    #[test]
    fn expires_only_months_before_the_cutoff() {
        let existing: Vec<String> = [
            "spans_y2025m10",
            "spans_y2025m11",
            "spans_y2025m12",
            "spans_x",
            "spans_y2026m11",
        ]
        .map(String::from)
        .to_vec();
        // November 2026 with 12 months kept: cutoff is November 2025.
        assert_eq!(
            expired(&existing, at(2026, 11, 29), 12),
            vec!["spans_y2025m10".to_string()]
        );
        assert!(expired(&existing, at(2026, 11, 29), 120).is_empty());
    }
}
