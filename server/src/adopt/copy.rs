//! The copy engine: binary `COPY (SELECT …) TO STDOUT` on the source piped
//! straight into `COPY … FROM STDIN` on the target (no row is decoded in
//! between), through a staging table so the insert can skip rows already
//! there. Trace data goes in chunks of a planned size, each committed with
//! its progress row, so an interrupted run resumes after the last commit and
//! a finished one is never repeated.

use futures::{SinkExt as _, StreamExt as _};
use tokio_postgres::{Client, GenericClient, Transaction};

use super::mapping::{Table, TargetColumn};

/// Rows per committed chunk of trace data: small enough that an interruption
/// loses seconds of work, large enough that per-chunk overhead is noise.
pub const CHUNK_ROWS: i64 = 20_000;

/// Trace data is counted per hour of `start_time_unix_nano` to plan chunks.
pub const BUCKET_NS: i64 = 3_600 * 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Inclusive lower and exclusive upper bound on `start_time_unix_nano`.
    pub lo: i64,
    pub hi: i64,
    pub rows: i64,
}

/// Groups consecutive buckets (`(bucket start, rows)`, ascending) into chunks
/// of at most `max_rows` (a single bucket over the limit is a chunk of its
/// own). The chunks cover every value from `i64::MIN` to `i64::MAX`, so rows
/// outside the counted buckets still belong to exactly one chunk.
pub fn plan(buckets: &[(i64, i64)], max_rows: i64) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current = Chunk {
        lo: i64::MIN,
        hi: i64::MAX,
        rows: 0,
    };
    for &(start, rows) in buckets {
        if current.rows > 0 && current.rows + rows > max_rows {
            chunks.push(Chunk { hi: start, ..current });
            current = Chunk {
                lo: start,
                hi: i64::MAX,
                rows: 0,
            };
        }
        current.rows += rows;
    }
    chunks.push(current);
    chunks
}

/// Rows per second and seconds per million rows.
pub fn rate(rows: u64, seconds: f64) -> (f64, f64) {
    if rows == 0 || seconds <= 0.0 {
        return (0.0, 0.0);
    }
    let per_second = rows as f64 / seconds;
    (per_second, 1_000_000.0 / per_second)
}

/// Session settings on both sides, so rows print the same text (for the
/// checksums) whatever the servers' defaults.
pub const SESSION: &str = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'; SET search_path = public; SET statement_timeout = 0";

/// The columns of a target table with their types as our catalog states them.
pub async fn target_columns(db: &impl GenericClient, table: &str) -> Result<Vec<TargetColumn>, tokio_postgres::Error> {
    let rows = db
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&table],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TargetColumn {
            name: r.get(0),
            ty: r.get(1),
        })
        .collect())
}

/// What one copy did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copied {
    /// Rows read from the source.
    pub read: u64,
    /// Rows new to the target (the rest were there already).
    pub inserted: u64,
}

/// How rows go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Straight into the table: for a range the target holds none of.
    Direct,
    /// Through a staging table, skipping rows the target already has.
    Staging,
}

/// Copies the rows of `table` that carry (within `range` for trace data)
/// inside the caller's target transaction.
pub async fn copy_table(
    source: &Client,
    target: &Transaction<'_>,
    table: &Table,
    types: &[TargetColumn],
    range: Option<(i64, i64)>,
    mode: Mode,
) -> Result<Copied, tokio_postgres::Error> {
    let columns = table.target_columns();
    if mode == Mode::Direct {
        let read = pipe(
            source,
            target,
            table,
            types,
            range,
            &format!("{} ({columns})", table.target),
        )
        .await?;
        if let (true, Some((lo, hi))) = (table.rolls_up(), range) {
            // Direct means the range held none of the receiver's spans, so
            // every span in it is one just copied.
            let ranged = format!(
                "(SELECT * FROM spans WHERE start_time_unix_nano >= {lo} AND start_time_unix_nano < {hi}) AS copied"
            );
            target
                .execute(&strathon_schema::ingest::rollup_upsert(&ranged), &[])
                .await?;
        }
        return Ok(Copied { read, inserted: read });
    }
    target
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS pg_temp.adopt_stage; \
             CREATE TEMP TABLE adopt_stage ON COMMIT DROP AS SELECT {columns} FROM {} WITH NO DATA",
            table.target
        ))
        .await?;
    let read = pipe(source, target, table, types, range, &format!("adopt_stage ({columns})")).await?;
    let insert = format!(
        "INSERT INTO {} ({columns}) SELECT {columns} FROM adopt_stage ON CONFLICT DO NOTHING",
        table.target
    );
    let inserted = if table.rolls_up() {
        // Only the spans new to the target count into the rollups.
        let sql = format!(
            "WITH ins AS ({insert} RETURNING *), rolled AS ({}) SELECT count(*) FROM ins",
            strathon_schema::ingest::rollup_upsert("ins")
        );
        target.query_one(&sql, &[]).await?.get::<_, i64>(0) as u64
    } else {
        target.execute(&insert, &[]).await?
    };
    target.batch_execute("DROP TABLE pg_temp.adopt_stage").await?;
    Ok(Copied { read, inserted })
}

/// Binary COPY out of the source straight into `into` on the target.
async fn pipe(
    source: &Client,
    target: &Transaction<'_>,
    table: &Table,
    types: &[TargetColumn],
    range: Option<(i64, i64)>,
    into: &str,
) -> Result<u64, tokio_postgres::Error> {
    let sink = target
        .copy_in(&format!("COPY {into} FROM STDIN (FORMAT binary)"))
        .await?;
    let select = table.select(types, range);
    let stream = source
        .copy_out(&format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
        .await?;
    futures::pin_mut!(sink);
    futures::pin_mut!(stream);
    while let Some(data) = stream.next().await {
        sink.feed(data?).await?;
    }
    sink.finish().await
}

/// The adopt's own bookkeeping in the target, apart from the receiver's
/// tables: where the data came from, and which chunks are in.
pub const BOOKKEEPING: &str = "
CREATE SCHEMA IF NOT EXISTS adoption;
CREATE TABLE IF NOT EXISTS adoption.source (
    only_row           boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    system_identifier  text NOT NULL,
    database           text NOT NULL,
    revision           text NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    control_plane_at   timestamptz,
    finished_at        timestamptz
);
CREATE TABLE IF NOT EXISTS adoption.chunks (
    phase         text NOT NULL,
    lo            bigint NOT NULL,
    hi            bigint NOT NULL,
    planned_rows  bigint NOT NULL,
    copied_rows   bigint,
    done_at       timestamptz,
    PRIMARY KEY (phase, lo)
);";

/// The stored plan of a phase, or None when the phase was never planned.
pub async fn stored_plan(target: &Client, phase: &str) -> Result<Option<Vec<(Chunk, bool)>>, tokio_postgres::Error> {
    let rows = target
        .query(
            "SELECT lo, hi, planned_rows, done_at IS NOT NULL FROM adoption.chunks WHERE phase = $1 ORDER BY lo",
            &[&phase],
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.iter()
            .map(|r| {
                (
                    Chunk {
                        lo: r.get(0),
                        hi: r.get(1),
                        rows: r.get(2),
                    },
                    r.get(3),
                )
            })
            .collect(),
    ))
}

pub async fn store_plan(target: &Client, phase: &str, chunks: &[Chunk]) -> Result<(), tokio_postgres::Error> {
    let lo: Vec<i64> = chunks.iter().map(|c| c.lo).collect();
    let hi: Vec<i64> = chunks.iter().map(|c| c.hi).collect();
    let rows: Vec<i64> = chunks.iter().map(|c| c.rows).collect();
    target
        .execute(
            "INSERT INTO adoption.chunks (phase, lo, hi, planned_rows) \
             SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[])",
            &[&phase, &lo, &hi, &rows],
        )
        .await?;
    Ok(())
}

pub async fn mark_done(
    target: &Transaction<'_>,
    phase: &str,
    lo: i64,
    copied: u64,
) -> Result<(), tokio_postgres::Error> {
    target
        .execute(
            "UPDATE adoption.chunks SET copied_rows = $3, done_at = now() WHERE phase = $1 AND lo = $2",
            &[&phase, &lo, &(copied as i64)],
        )
        .await?;
    Ok(())
}

/// Whether the receiver's hourly rollups hold anything in `[lo, hi)`: the
/// ingest writer counts every span it stores into them in the same
/// transaction, so none means none of its spans is in the range.
pub async fn rollups_in(target: &Transaction<'_>, lo: i64, hi: i64) -> Result<bool, tokio_postgres::Error> {
    Ok(target
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM span_rollups WHERE hour >= $1 AND hour < $2)",
            &[&lo, &hi],
        )
        .await?
        .get(0))
}

/// Rows per hour of `start_time_unix_nano` in a source table.
pub async fn buckets(source: &Client, table: &str) -> Result<Vec<(i64, i64)>, tokio_postgres::Error> {
    let rows = source
        .query(
            &format!(
                "SELECT div(start_time_unix_nano, {BUCKET_NS})::bigint * {BUCKET_NS}, count(*) \
                 FROM {table} GROUP BY 1 ORDER BY 1"
            ),
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_everything_and_respect_the_size() {
        let h = BUCKET_NS;
        let buckets = [(0, 30), (h, 30), (2 * h, 50), (3 * h, 200), (4 * h, 10)];
        let chunks = plan(&buckets, 60);
        assert_eq!(
            chunks,
            [
                Chunk {
                    lo: i64::MIN,
                    hi: 2 * h,
                    rows: 60
                },
                Chunk {
                    lo: 2 * h,
                    hi: 3 * h,
                    rows: 50
                },
                Chunk {
                    lo: 3 * h,
                    hi: 4 * h,
                    rows: 200
                },
                Chunk {
                    lo: 4 * h,
                    hi: i64::MAX,
                    rows: 10
                },
            ]
        );
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].hi, pair[1].lo, "no gap, no overlap");
        }
        assert_eq!(
            plan(&[], 60),
            [Chunk {
                lo: i64::MIN,
                hi: i64::MAX,
                rows: 0
            }]
        );
    }

    #[test]
    fn rates_are_per_second_and_per_million() {
        assert_eq!(rate(500_000, 2.0), (250_000.0, 4.0));
        assert_eq!(rate(0, 1.0), (0.0, 0.0));
    }
}
