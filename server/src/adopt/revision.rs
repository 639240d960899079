//! Which schema the source is at. The mapping is written against exactly one
//! revision of the original's schema; any other would copy the wrong columns
//! or fail halfway, so adopt refuses before it writes anything.

/// The Alembic head of the original's 1.4.0 release (internals §1).
pub const EXPECTED: &str = "032";

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum RevisionError {
    #[error(
        "the source database has no alembic_version table: it is not a database of the Python \
         Strathon receiver (adopt reads schema revision {EXPECTED})"
    )]
    NotTheOriginal,
    #[error("the source database's alembic_version table is empty; adopt reads schema revision {EXPECTED}")]
    Empty,
    #[error(
        "the source database is at schema revision {found}, but adopt reads revision {EXPECTED} \
         (Strathon 1.4.0). Upgrade the original to 1.4.0 first (it migrates at startup), then run adopt again"
    )]
    Other { found: String },
}

/// `found` is the content of `alembic_version`, or None when the table is missing.
pub fn check(found: Option<&[String]>) -> Result<(), RevisionError> {
    match found {
        None => Err(RevisionError::NotTheOriginal),
        Some([]) => Err(RevisionError::Empty),
        Some([one]) if one.trim() == EXPECTED => Ok(()),
        Some(many) => Err(RevisionError::Other {
            found: many.iter().map(|v| v.trim()).collect::<Vec<_>>().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_head_revision_is_accepted() {
        assert_eq!(check(Some(&["032".to_owned()])), Ok(()));
        let older = check(Some(&["029".to_owned()])).unwrap_err();
        assert_eq!(older, RevisionError::Other { found: "029".into() });
        let text = older.to_string();
        assert!(text.contains("revision 029") && text.contains("revision 032"), "{text}");
        assert_eq!(check(None), Err(RevisionError::NotTheOriginal));
        assert_eq!(check(Some(&[])), Err(RevisionError::Empty));
        assert!(matches!(
            check(Some(&["031".to_owned(), "032".to_owned()])),
            Err(RevisionError::Other { .. })
        ));
    }
}
