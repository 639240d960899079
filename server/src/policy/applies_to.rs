//! `applies_to`: a policy applies to a span when any token matches the span
//! name on whole dot-separated segments.

pub fn matches_name(token: &str, name: &str) -> bool {
    !token.is_empty()
        && (name == token
            || name.starts_with(&format!("{token}."))
            || name.ends_with(&format!(".{token}"))
            || name.contains(&format!(".{token}.")))
}

/// An empty list applies to every span.
pub fn applies(applies_to: &[String], name: &str) -> bool {
    applies_to.is_empty() || applies_to.iter().any(|t| matches_name(t, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_segments_only() {
        let name = "langgraph.tool.send_email";
        for yes in [
            "tool",
            "langgraph",
            "send_email",
            "langgraph.tool",
            "tool.send_email",
            name,
        ] {
            assert!(matches_name(yes, name), "{yes}");
        }
        for no in ["send", "ool", "tool.send", "", "email"] {
            assert!(!matches_name(no, name), "{no}");
        }
        assert!(applies(&[], ""));
        assert!(!applies(&["tool".into()], ""));
        assert!(applies(&["x".into(), "tool".into()], name));
    }
}
