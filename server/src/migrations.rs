//! `strathon migrate [status | history | revert]`: the schema as an operator
//! sees it. Applying is what `serve` does at startup too; the rest reads
//! diesel's migrations table against the versions embedded in this binary.

use anyhow::{bail, Context as _};
use strathon_schema::migrate::{self, Applied};

use crate::cli::MigrateAction;

/// A migration as the commands list it.
#[derive(Debug, PartialEq)]
pub struct Row {
    pub version: String,
    pub name: String,
    /// When it was applied; None while pending.
    pub applied: Option<String>,
}

/// Embedded migrations joined with the applied ones. Applied versions this
/// binary does not know (a newer binary ran) are listed too.
pub fn rows(embedded: &[(String, String)], applied: &[Applied]) -> Vec<Row> {
    let when = |v: &str| {
        applied
            .iter()
            .find(|a| a.version == v)
            .map(|a| a.run_on.format("%Y-%m-%d %H:%M:%S UTC").to_string())
    };
    let mut rows: Vec<Row> = embedded
        .iter()
        .map(|(version, name)| Row {
            version: version.clone(),
            name: name.clone(),
            applied: when(version),
        })
        .collect();
    for a in applied
        .iter()
        .filter(|a| !embedded.iter().any(|(v, _)| *v == a.version))
    {
        rows.push(Row {
            version: a.version.clone(),
            name: "(unknown to this binary)".into(),
            applied: when(&a.version),
        });
    }
    rows.sort_by(|a, b| a.version.cmp(&b.version));
    rows
}

pub fn status_text(rows: &[Row]) -> String {
    let current = rows.iter().rev().find(|r| r.applied.is_some());
    let head = migrate::head_version().unwrap_or_default();
    let pending: Vec<&Row> = rows.iter().filter(|r| r.applied.is_none()).collect();
    let mut out = format!(
        "current: {}\nhead:    {head}\n",
        current
            .map(|r| format!("{} ({})", r.version, r.name))
            .unwrap_or_else(|| "none (not migrated)".into()),
    );
    if pending.is_empty() {
        out.push_str("pending: none\n");
    } else {
        out.push_str(&format!("pending: {}\n", pending.len()));
        for r in pending {
            out.push_str(&format!("  {} {}\n", r.version, r.name));
        }
    }
    out
}

pub fn history_text(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<14}  {:<width$}  APPLIED\n", "VERSION", "NAME");
    for r in rows {
        out.push_str(&format!(
            "{:<14}  {:<width$}  {}\n",
            r.version,
            r.name,
            r.applied.as_deref().unwrap_or("pending")
        ));
    }
    out
}

/// A `--to` argument as a version: a version itself, or a migration's name.
pub fn target_version(to: &str, embedded: &[(String, String)]) -> Option<String> {
    embedded
        .iter()
        .find(|(v, n)| v == to || n == to)
        .map(|(v, _)| v.clone())
}

#[allow(clippy::print_stdout)]
pub async fn run(url: &str, action: Option<MigrateAction>) -> anyhow::Result<()> {
    match action {
        None => crate::serve::migrate_only(url).await,
        Some(MigrateAction::Status) | Some(MigrateAction::History) => {
            let mut conn = strathon_schema::pool::dedicated(url)
                .await
                .context("connecting to DATABASE_URL")?;
            // A database never migrated has no migrations table: all pending.
            let applied = migrate::applied(&mut conn).await.unwrap_or_default();
            let rows = rows(&migrate::embedded(), &applied);
            match action {
                Some(MigrateAction::Status) => print!("{}", status_text(&rows)),
                _ => print!("{}", history_text(&rows)),
            }
            Ok(())
        }
        Some(MigrateAction::Revert { to, yes }) => {
            let embedded = migrate::embedded();
            let Some(target) = target_version(&to, &embedded) else {
                bail!("--to {to:?} is not a migration of this binary; see `strathon migrate history`");
            };
            if !yes {
                bail!(
                    "reverting to {target} drops the tables and columns of every newer migration, and their data; \
                     back up the database, stop every receiver, then run again with --yes"
                );
            }
            let reverted = migrate::revert_to(url, &target).await?;
            if reverted.is_empty() {
                println!("nothing to revert: the database is at {target} or older");
            }
            for v in &reverted {
                println!("reverted {v}");
            }
            println!("now at {target}; receivers of this version will apply the rest again at startup unless STRATHON_AUTO_MIGRATE=false");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(version: &str) -> Applied {
        Applied {
            version: version.into(),
            run_on: chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
        }
    }

    #[test]
    fn status_and_history_name_current_head_and_pending() {
        let embedded = vec![
            ("1".to_owned(), "0001_a".to_owned()),
            ("2".to_owned(), "0002_b".to_owned()),
        ];
        let rows = rows(&embedded, &[applied("1")]);
        assert_eq!(rows[1].applied, None);
        let status = status_text(&rows);
        assert!(status.starts_with("current: 1 (0001_a)\n"), "{status}");
        assert!(status.contains("pending: 1\n  2 0002_b\n"), "{status}");
        let history = history_text(&rows);
        assert!(history.contains("2026-12-04 10:00:00 UTC"), "{history}");
        assert!(history.lines().nth(2).unwrap().ends_with("pending"), "{history}");
        let newer = super::rows(&embedded, &[applied("1"), applied("2"), applied("3")]);
        assert_eq!(newer[2].name, "(unknown to this binary)");
        assert_eq!(target_version("0002_b", &embedded).as_deref(), Some("2"));
        assert_eq!(target_version("9", &embedded), None);
    }
}
