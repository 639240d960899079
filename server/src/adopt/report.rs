//! What the dry run reports: per table, the rows that carry and those that
//! do not (with the reason), rows changed on the way, values in columns we
//! have no place for, and whole tables left behind. Plus the progress bar.

use std::fmt::Write as _;

use indicatif::{ProgressBar, ProgressStyle};
use tokio_postgres::Client;

use super::mapping::{self, Table, LEFT_BEHIND};
use super::revision;

/// The counts the dry run gathers for one mapped table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCensus {
    pub source: &'static str,
    pub target: &'static str,
    pub rows: i64,
    pub carried: i64,
    /// `(rows, reason)` per filter (a row may fail more than one).
    pub left_out: Vec<(i64, &'static str)>,
    /// `(rows, what happens)` per change.
    pub changed: Vec<(i64, &'static str)>,
    /// `(column, rows with a value, reason)` per dropped column.
    pub dropped: Vec<(&'static str, i64, &'static str)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Census {
    pub tables: Vec<TableCensus>,
    /// `(table, rows, reason)`; rows is None when the table does not exist.
    pub left_behind: Vec<(&'static str, Option<i64>, &'static str)>,
}

async fn table_census(source: &Client, table: &'static Table) -> Result<TableCensus, tokio_postgres::Error> {
    let row = source.query_one(&table.census(), &[]).await?;
    let mut i = 0;
    let mut next = || {
        let v: i64 = row.get(i);
        i += 1;
        v
    };
    let rows = next();
    let carried = next();
    let left_out = table.filters.iter().map(|(_, why)| (next(), *why)).collect();
    let changed = table.changes.iter().map(|(_, what)| (next(), *what)).collect();
    let dropped = table.dropped.iter().map(|(col, why)| (*col, next(), *why)).collect();
    Ok(TableCensus {
        source: table.source,
        target: table.target,
        rows,
        carried,
        left_out,
        changed,
        dropped,
    })
}

pub async fn census(source: &Client) -> Result<Census, tokio_postgres::Error> {
    let mut tables = Vec::new();
    for table in mapping::all_tables() {
        tables.push(table_census(source, table).await?);
    }
    let mut left_behind = Vec::new();
    for left in LEFT_BEHIND {
        let exists: bool = source
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&left.source])
            .await?
            .get(0);
        let rows = if exists {
            Some(
                source
                    .query_one(&format!("SELECT count(*) FROM {}", left.source), &[])
                    .await?
                    .get(0),
            )
        } else {
            None
        };
        left_behind.push((left.source, rows, left.reason));
    }
    Ok(Census { tables, left_behind })
}

/// The dry run's text.
pub fn render(c: &Census) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Source schema revision {0} (expected {0}). Nothing was written.\n",
        revision::EXPECTED
    );
    let _ = writeln!(out, "Tables that carry (rows that carry / rows in the source):");
    for t in &c.tables {
        let arrow = if t.source == t.target {
            t.source.to_owned()
        } else {
            format!("{} -> {}", t.source, t.target)
        };
        let _ = writeln!(out, "  {arrow:<44} {:>10} / {}", t.carried, t.rows);
        for (n, why) in t.left_out.iter().filter(|(n, _)| *n > 0) {
            let _ = writeln!(out, "      {n} left out: {why}");
        }
        for (n, what) in t.changed.iter().filter(|(n, _)| *n > 0) {
            let _ = writeln!(out, "      {n} changed: {what}");
        }
    }
    let dropped: Vec<_> = c
        .tables
        .iter()
        .flat_map(|t| t.dropped.iter().map(move |d| (t.source, d)))
        .filter(|(_, (_, n, _))| *n > 0)
        .collect();
    let _ = writeln!(out, "\nColumns that do not carry (rows holding a value):");
    if dropped.is_empty() {
        let _ = writeln!(out, "  none holds a value");
    }
    for (table, (col, n, why)) in dropped {
        let _ = writeln!(out, "  {:<44} {n:>10}  {why}", format!("{table}.{col}"));
    }
    let _ = writeln!(out, "\nTables that do not carry (rows):");
    for (table, rows, why) in &c.left_behind {
        let rows = rows.map_or_else(|| "absent".to_owned(), |n| n.to_string());
        let _ = writeln!(out, "  {table:<44} {rows:>10}  {why}");
    }
    out
}

/// A bar on stderr when it is a terminal; hidden otherwise (logs carry the
/// progress then).
pub fn progress(phase: &str, total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>6} [{bar:40}] {human_pos}/{human_len} rows, {per_sec}, eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(phase.to_owned());
    bar.set_position(done);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_counts_reasons_and_absent_tables() {
        let census = Census {
            tables: vec![TableCensus {
                source: "halt_state",
                target: "halts",
                rows: 7,
                carried: 5,
                left_out: vec![(2, "trace halts"), (0, "never shown")],
                changed: vec![(1, "actor becomes system")],
                dropped: vec![("trace_id", 3, "scoped to project or agent"), ("x", 0, "hidden")],
            }],
            left_behind: vec![
                ("sessions", Some(12), "sign in again"),
                ("span_links", None, "never written"),
            ],
        };
        let text = render(&census);
        assert!(text.contains("halt_state -> halts"), "{text}");
        assert!(text.contains("5 / 7"));
        assert!(text.contains("2 left out: trace halts"));
        assert!(!text.contains("never shown") && !text.contains("hidden"));
        assert!(text.contains("1 changed: actor becomes system"));
        assert!(text.contains("halt_state.trace_id"));
        assert!(text.contains("sessions") && text.contains("12  sign in again"));
        assert!(text.contains("absent  never written"));
    }
}
