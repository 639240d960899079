//! `strathon adopt verify`: the original and this database compared table by
//! table (rows that carry, counted and checksummed the same way on both
//! sides), every project's audit chain and every anchor verified under
//! STRATHON_AUDIT_HMAC_KEY, and the sealed TOTP secrets opened with
//! STRATHON_ENCRYPTION_KEY. Run it right after `adopt`: once the receiver
//! serves, the two databases rightly drift apart.

use std::fmt::Write as _;

use anyhow::bail;
use tokio_postgres::Client;

use super::mapping::{self, Table, LEGACY_PASSWORD_TAG, SPANS};
use super::{connect, copy, identity, open_source};
use crate::audit;
use crate::cli::AdoptSettings;

/// One side's `(rows, checksum)`.
type Sum = (i64, String);

async fn sums(db: &Client, sql: &str) -> Result<Sum, tokio_postgres::Error> {
    let row = db.query_one(sql, &[]).await?;
    Ok((row.get(0), row.get(1)))
}

async fn compare(
    source: &Client,
    target: &Client,
    table: &Table,
    range: Option<(i64, i64)>,
) -> anyhow::Result<(Sum, Sum)> {
    let types = copy::target_columns(target, table.target).await?;
    let theirs = sums(source, &table.source_checksum(&types, range)).await?;
    let ours = sums(target, &table.target_checksum(range)).await?;
    Ok((theirs, ours))
}

/// A line of the table comparison, and whether it is a problem.
pub fn table_line(name: &str, theirs: &Sum, ours: &Sum) -> (String, bool) {
    let verdict = if theirs == ours {
        "ok"
    } else if theirs.0 != ours.0 {
        "ROW COUNTS DIFFER"
    } else {
        "CONTENTS DIFFER"
    };
    (
        format!("  {name:<44} {:>10} {:>10}  {verdict}", theirs.0, ours.0),
        theirs != ours,
    )
}

pub async fn run(from: &str, settings: &AdoptSettings) -> anyhow::Result<()> {
    let source = open_source(from).await?;
    let target = connect(&settings.database.url, "target").await?;
    if identity(&source).await? == identity(&target).await? {
        bail!("DATABASE_URL names the source database itself");
    }
    let mut out = String::new();
    let mut problems = 0usize;

    let _ = writeln!(out, "Tables (rows that carry from the original, rows here):");
    for table in mapping::CONTROL_PLANE.iter().chain([&mapping::TRACES, &SPANS]) {
        let (theirs, ours) = compare(&source, &target, table, None).await?;
        let (line, bad) = table_line(table.target, &theirs, &ours);
        let _ = writeln!(out, "{line}");
        if bad {
            problems += 1;
            if std::ptr::eq(table, &SPANS) {
                for (month, lo, hi) in span_months(&source).await? {
                    let (theirs, ours) = compare(&source, &target, table, Some((lo, hi))).await?;
                    if theirs != ours {
                        let (line, _) = table_line(&format!("  spans in {month}"), &theirs, &ours);
                        let _ = writeln!(out, "{line}");
                    }
                }
            }
        }
    }

    let key = settings.keys.effective_audit_key();
    if settings.keys.audit_key().is_none() {
        let _ = writeln!(
            out,
            "\nSTRATHON_AUDIT_HMAC_KEY is not set: checking with the development key the original used when none was set."
        );
    }
    problems += audit_chains(&settings.database.url, key.as_bytes(), &mut out).await?;
    problems += sealed_secrets(&target, settings.keys.encryption_key(), &mut out).await?;

    let legacy: i64 = target
        .query_one(
            "SELECT count(*) FROM users WHERE starts_with(password_hash, $1)",
            &[&LEGACY_PASSWORD_TAG],
        )
        .await?
        .get(0);
    let _ = writeln!(
        out,
        "\nPasswords: {legacy} still in the original's scheme; each is rehashed at its user's next sign-in \
         (STRATHON_PASSWORD_PEPPER must be the original's)."
    );
    source.batch_execute("COMMIT").await?;
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    if problems > 0 {
        bail!("verification found {problems} problem(s); see above");
    }
    #[allow(clippy::print_stdout)]
    {
        println!("\nVerified: every table matches the original and every audit chain holds.");
    }
    Ok(())
}

/// `(YYYY-MM, lo, hi)` for every month holding spans in the source.
async fn span_months(source: &Client) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let mut months: Vec<_> = copy::buckets(source, "spans")
        .await?
        .iter()
        .map(|(start, _)| strathon_schema::partitions::Month::of(chrono::DateTime::from_timestamp_nanos(*start)))
        .collect();
    months.dedup();
    Ok(months
        .into_iter()
        .map(|m| (format!("{:04}-{:02}", m.year, m.month), m.start_ns(), m.end_ns()))
        .collect())
}

/// Walks every project's chain and every anchor; returns the problems found.
async fn audit_chains(url: &str, key: &[u8], out: &mut String) -> anyhow::Result<usize> {
    use strathon_schema::audit as rows;

    let mut conn = strathon_schema::pool::dedicated(url).await?;
    let projects = rows::chained_projects(&mut conn).await?;
    let mut problems = 0;
    let mut events_checked = 0;
    let _ = writeln!(out, "\nAudit chains:");
    for project in &projects {
        let events = rows::chain(&mut conn, *project).await?;
        events_checked += events.len();
        match audit::first_break(key, &events) {
            None => {
                let _ = writeln!(out, "  project {project}: {} events, chain holds", events.len());
            }
            Some(b) => {
                problems += 1;
                let _ = writeln!(
                    out,
                    "  project {project}: CHAIN BROKEN at event {} (sequence {}): {}",
                    b.event_id, b.sequence_no, b.problem
                );
            }
        }
    }
    let hashes = rows::hashes_after(&mut conn, i64::MIN).await?;
    let anchors = rows::anchors_since(&mut conn, None, i64::MAX).await?;
    let mut bad_anchors = 0;
    for a in &anchors {
        let from = hashes.partition_point(|(seq, _)| *seq < a.first_sequence);
        let to = hashes.partition_point(|(seq, _)| *seq <= a.last_sequence);
        let leaves: Vec<Vec<u8>> = hashes[from..to].iter().map(|(_, h)| h.clone()).collect();
        if !audit::anchor_holds(a, &leaves) {
            bad_anchors += 1;
            let _ = writeln!(
                out,
                "  anchor {} (sequences {}..={}): MERKLE ROOT DOES NOT MATCH",
                a.anchor_at, a.first_sequence, a.last_sequence
            );
        }
    }
    let _ = writeln!(
        out,
        "  {events_checked} events in {} projects; {} anchors, {} holding",
        projects.len(),
        anchors.len(),
        anchors.len() - bad_anchors
    );
    Ok(problems + bad_anchors)
}

/// Sealed TOTP secrets must open with the configured key, or their users
/// cannot pass their second factor.
async fn sealed_secrets(target: &Client, key: Option<&str>, out: &mut String) -> anyhow::Result<usize> {
    let rows = target
        .query(
            "SELECT email, totp_secret FROM users WHERE totp_secret LIKE 'enc:%' ORDER BY email",
            &[],
        )
        .await?;
    let closed: Vec<String> = rows
        .iter()
        .filter(|r| strathon_schema::sealed::open(r.get(1), key).is_none())
        .map(|r| r.get(0))
        .collect();
    let _ = writeln!(
        out,
        "\nTOTP secrets: {} sealed, {} open with STRATHON_ENCRYPTION_KEY{}",
        rows.len(),
        rows.len() - closed.len(),
        if closed.is_empty() {
            String::new()
        } else {
            format!(
                "; NOT OPENING for {} (set the original's key): {}",
                closed.len(),
                closed.join(", ")
            )
        }
    );
    Ok(usize::from(!closed.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_which_side_differs() {
        let a = (3, "10".to_owned());
        assert!(!table_line("users", &a, &a).1);
        let (line, bad) = table_line("users", &a, &(2, "10".into()));
        assert!(bad && line.contains("ROW COUNTS DIFFER"), "{line}");
        let (line, bad) = table_line("users", &a, &(3, "11".into()));
        assert!(bad && line.contains("CONTENTS DIFFER"), "{line}");
    }
}
