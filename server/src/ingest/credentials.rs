//! The credential catalogue: the one list of secret formats (cloud keys,
//! tokens, connection strings, private keys, generic assignments) that ingest
//! redaction, `/v1/credentials/*` and the MCP gateway's response scan all use,
//! beside the small engine that finds and replaces them. Patterns are written
//! in RE2 syntax and run on the linear-time `regex` crate.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use super::redaction::re2_compat;

/// (id, display name, RE2 pattern, severity, category). The display name, upper-cased,
/// becomes the placeholder, so renaming one changes stored output.
#[rustfmt::skip]
const CATALOGUE: &[(&str, &str, &str, &str, &str)] = &[
    // Cloud providers
    ("aws-access-key", "AWS Access Key ID", r"(?:A3T[A-Z0-9]|AKIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ASIA)[A-Z0-9]{16}", "critical", "cloud"),
    ("aws-secret-key", "AWS Secret Access Key", r"(?i)aws_?secret_?access_?key\s*[:=]\s*[A-Za-z0-9/+=]{40}", "critical", "cloud"),
    ("aws-session-token", "AWS Session Token", r"(?i)aws_?session_?token\s*[:=]\s*[A-Za-z0-9/+=]{100,}", "high", "cloud"),
    ("gcp-api-key", "Google API Key", r"AIza[0-9A-Za-z_-]{35}", "critical", "cloud"),
    ("gcp-service-account", "GCP Service Account Key", r#""type"\s*:\s*"service_account""#, "critical", "cloud"),
    ("gcp-oauth-token", "Google OAuth Token", r"ya29\.[0-9A-Za-z_-]{50,}", "high", "cloud"),
    ("azure-storage-key", "Azure Storage Account Key", r"(?i)DefaultEndpointsProtocol=https;AccountName=[^;]+;AccountKey=[A-Za-z0-9+/=]{88}", "critical", "cloud"),
    ("azure-ad-client-secret", "Azure AD Client Secret", r"(?i)(?:client_?secret|azure_?secret)\s*[:=]\s*[A-Za-z0-9~._-]{34,}", "high", "cloud"),
    ("azure-connection-string", "Azure Connection String", r"(?i)(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/=]{30,}", "high", "cloud"),
    // Source hosting and chat
    ("github-pat", "GitHub Personal Access Token", r"ghp_[A-Za-z0-9]{36}", "critical", "token"),
    ("github-oauth", "GitHub OAuth Token", r"gho_[A-Za-z0-9]{36}", "high", "token"),
    ("github-app-token", "GitHub App Token", r"(?:ghs|ghr)_[A-Za-z0-9]{36,}", "high", "token"),
    ("github-fine-grained", "GitHub Fine-Grained PAT", r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", "critical", "token"),
    ("gitlab-pat", "GitLab Personal Access Token", r"glpat-[A-Za-z0-9_-]{20,}", "critical", "token"),
    ("gitlab-runner", "GitLab Runner Token", r"GR1348941[A-Za-z0-9_-]{20,}", "high", "token"),
    ("slack-bot-token", "Slack Bot Token", r"xoxb-[0-9]{10,}-[0-9]{10,}-[A-Za-z0-9]{24,}", "critical", "token"),
    ("slack-user-token", "Slack User Token", r"xoxp-[0-9]{10,}-[0-9]{10,}-[0-9]{10,}-[a-f0-9]{32}", "critical", "token"),
    ("slack-signing-secret", "Slack Signing Secret", r"xoxs-[0-9]{10,}-[0-9]{10,}-[A-Za-z0-9]{24,}", "high", "token"),
    ("slack-webhook", "Slack Incoming Webhook", r"https://hooks\.slack\.com/services/T[A-Z0-9]{8,}/B[A-Z0-9]{8,}/[A-Za-z0-9]{24}", "high", "token"),
    ("discord-bot-token", "Discord Bot Token", r"[MN][A-Za-z0-9]{23,}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,}", "critical", "token"),
    ("discord-webhook", "Discord Webhook URL", r"https://discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+", "high", "token"),
    // AI providers
    ("openai-api-key", "OpenAI API Key", r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}", "critical", "token"),
    ("openai-project-key", "OpenAI Project Key", r"sk-proj-[A-Za-z0-9_-]{40,}", "critical", "token"),
    ("anthropic-api-key", "Anthropic API Key", r"sk-ant-[A-Za-z0-9_-]{40,}", "critical", "token"),
    ("huggingface-token", "Hugging Face Token", r"hf_[A-Za-z0-9]{34,}", "high", "token"),
    ("groq-api-key", "Groq API Key", r"gsk_[A-Za-z0-9]{52}", "high", "token"),
    ("xai-api-key", "xAI (Grok) API Key", r"xai-[A-Za-z0-9]{80}", "high", "token"),
    ("cohere-api-key", "Cohere API Key", r"(?i)cohere[_-]?api[_-]?key\s*[:=]\s*[A-Za-z0-9]{40}", "high", "token"),
    ("perplexity-api-key", "Perplexity API Key", r"pplx-[A-Za-z0-9]{48,}", "high", "token"),
    ("replicate-api-token", "Replicate API Token", r"r8_[A-Za-z0-9]{37}", "high", "token"),
    // Payments and messaging
    ("stripe-secret-key", "Stripe Secret Key", r"sk_live_[A-Za-z0-9]{24,}", "critical", "token"),
    ("stripe-publishable", "Stripe Publishable Key", r"pk_live_[A-Za-z0-9]{24,}", "high", "token"),
    ("stripe-restricted", "Stripe Restricted Key", r"rk_live_[A-Za-z0-9]{24,}", "high", "token"),
    ("twilio-api-key", "Twilio API Key", r"SK[0-9a-fA-F]{32}", "high", "token"),
    ("sendgrid-api-key", "SendGrid API Key", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", "critical", "token"),
    ("mailgun-api-key", "Mailgun API Key", r"key-[0-9a-zA-Z]{32}", "high", "token"),
    // Database connection strings
    ("postgres-uri", "PostgreSQL Connection String", r#"postgres(?:ql)?://[^\s"']{10,}"#, "critical", "database"),
    ("mysql-uri", "MySQL Connection String", r#"mysql://[^\s"']{10,}"#, "critical", "database"),
    ("mongodb-uri", "MongoDB Connection String", r#"mongodb(?:\+srv)?://[^\s"']{10,}"#, "critical", "database"),
    ("redis-uri", "Redis Connection String", r#"redis(?:s)?://[^\s"']{10,}"#, "high", "database"),
    // Private keys
    ("rsa-private-key", "RSA Private Key", r"-----BEGIN RSA PRIVATE KEY-----", "critical", "key"),
    ("ec-private-key", "EC Private Key", r"-----BEGIN EC PRIVATE KEY-----", "critical", "key"),
    ("openssh-private-key", "OpenSSH Private Key", r"-----BEGIN OPENSSH PRIVATE KEY-----", "critical", "key"),
    ("pgp-private-key", "PGP Private Key", r"-----BEGIN PGP PRIVATE KEY BLOCK-----", "critical", "key"),
    ("pkcs8-private-key", "PKCS8 Private Key", r"-----BEGIN PRIVATE KEY-----", "critical", "key"),
    ("encrypted-private-key", "Encrypted Private Key", r"-----BEGIN ENCRYPTED PRIVATE KEY-----", "high", "key"),
    // Tokens in headers
    ("jwt-token", "JSON Web Token", r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", "high", "token"),
    ("bearer-token", "Bearer Token in Header", r"(?i)(?:authorization|bearer)\s*[:=]\s*bearer\s+[A-Za-z0-9_.-]{20,}", "high", "token"),
    ("basic-auth", "Basic Auth Credentials", r"(?i)(?:authorization)\s*[:=]\s*basic\s+[A-Za-z0-9+/=]{10,}", "high", "token"),
    // Package registries
    ("npm-token", "npm Access Token", r"npm_[A-Za-z0-9]{36}", "critical", "token"),
    ("pypi-token", "PyPI API Token", r"pypi-[A-Za-z0-9_-]{50,}", "critical", "token"),
    // Infrastructure
    ("docker-hub-token", "Docker Hub Token", r"dckr_pat_[A-Za-z0-9_-]{20,}", "high", "token"),
    ("terraform-cloud-token", "Terraform Cloud Token", r"(?i)(?:TFE_TOKEN|tf_cloud_token)\s*[:=]\s*[A-Za-z0-9.]{14,}", "high", "token"),
    ("vault-token", "HashiCorp Vault Token", r"(?:hvs|hvb|hvr)\.[A-Za-z0-9_-]{24,}", "critical", "token"),
    // SaaS platforms
    ("vercel-token", "Vercel Token", r"(?i)vercel[_-]?(?:api[_-]?)?token\s*[:=]\s*[A-Za-z0-9]{24}", "high", "token"),
    ("supabase-service-key", "Supabase Service Key", r"sbp_[A-Za-z0-9]{40}", "critical", "token"),
    ("cloudflare-api-token", "Cloudflare API Token", r"(?i)cloudflare[_-]?(?:api[_-]?)?token\s*[:=]\s*[A-Za-z0-9_-]{40}", "high", "token"),
    ("cloudflare-origin-ca", "Cloudflare Origin CA Key", r"v1\.0-[A-Za-z0-9]{24}-[A-Za-z0-9]{146}", "high", "token"),
    ("digitalocean-pat", "DigitalOcean Personal Access Token", r"dop_v1_[a-f0-9]{64}", "critical", "token"),
    ("digitalocean-oauth", "DigitalOcean OAuth Token", r"do[or]_v1_[a-f0-9]{64}", "high", "token"),
    ("shopify-access-token", "Shopify Access Token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}", "critical", "token"),
    ("datadog-api-key", "Datadog API Key", r"(?i)datadog[_-]?api[_-]?key\s*[:=]\s*[a-f0-9]{32}", "high", "token"),
    ("newrelic-license-key", "New Relic License Key", r"(?i)NRAK-[A-Z0-9]{27}", "high", "token"),
    ("notion-token", "Notion Integration Token", r"(?:secret_|ntn_)[A-Za-z0-9]{43,}", "high", "token"),
    ("linear-api-key", "Linear API Key", r"lin_api_[A-Za-z0-9]{40}", "high", "token"),
    ("postmark-token", "Postmark Server Token", r"(?i)postmark[_-]?(?:server[_-]?)?token\s*[:=]\s*[a-f0-9-]{36}", "high", "token"),
    ("sentry-dsn", "Sentry DSN", r"https://[a-f0-9]{32}@[a-z0-9.-]+\.ingest\.sentry\.io/[0-9]+", "medium", "token"),
    ("atlassian-api-token", "Atlassian API Token", r"ATATT3[A-Za-z0-9_=-]{180,}", "high", "token"),
    ("square-access-token", "Square Access Token", r"(?:sq0atp-|EAAA)[A-Za-z0-9_-]{22,}", "critical", "token"),
    // Generic assignments
    ("generic-api-key", "Generic API Key Assignment", r#"(?i)(?:api[_-]?key|apikey|api[_-]?secret)\s*[:=]\s*['"]?[A-Za-z0-9_-]{20,}['"]?"#, "medium", "generic"),
    ("generic-password", "Password Assignment", r#"(?i)(?:password|passwd|pwd)\s*[:=]\s*['"]?[^\s'"]{8,}['"]?"#, "medium", "generic"),
    ("generic-secret", "Secret Assignment", r#"(?i)(?:secret|token|credential)\s*[:=]\s*['"]?[A-Za-z0-9_/+=-]{20,}['"]?"#, "medium", "generic"),
    ("private-key-inline", "Inline Private Key Material", r#"(?i)(?:private[_-]?key)\s*[:=]\s*['"]?[A-Za-z0-9+/=]{40,}['"]?"#, "critical", "key"),
];

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    pub id: &'static str,
    pub name: &'static str,
    pub severity: &'static str,
    pub category: &'static str,
}

struct Compiled {
    pattern: Pattern,
    placeholder: String,
    regex: Regex,
}

static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .map(|&(id, name, source, severity, category)| Compiled {
            pattern: Pattern {
                id,
                name,
                severity,
                category,
            },
            placeholder: format!("[{}_REDACTED]", name.to_uppercase()),
            regex: Regex::new(&re2_compat(source)).expect("built-in credential pattern compiles"),
        })
        .collect()
});

/// One pass over the text says which patterns occur at all, so only those are run to
/// collect spans instead of all seventy-odd.
static PREFILTER: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(CATALOGUE.iter().map(|&(_, _, source, _, _)| re2_compat(source)))
        .expect("built-in credential patterns compile")
});

/// The catalogue, in its order.
pub fn patterns() -> impl Iterator<Item = Pattern> {
    COMPILED.iter().map(|c| c.pattern)
}

/// A match of one pattern: byte offsets into the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub pattern: Pattern,
    pub start: usize,
    pub end: usize,
}

/// Every match of every pattern, by position (start, then end, then name).
pub fn find(text: &str) -> Vec<Finding> {
    let present = PREFILTER.matches(text);
    if !present.matched_any() {
        return Vec::new();
    }
    let mut found: Vec<Finding> = present
        .iter()
        .flat_map(|index| {
            let c = &COMPILED[index];
            c.regex.find_iter(text).map(move |m| Finding {
                pattern: c.pattern,
                start: m.start(),
                end: m.end(),
            })
        })
        .collect();
    // Same tie-break as the original's tuple sort: start, then end, then display name.
    found.sort_unstable_by(|a, b| (a.start, a.end, a.pattern.name).cmp(&(b.start, b.end, b.pattern.name)));
    found
}

/// Replaces each credential with `[<PATTERN NAME>_REDACTED]`. Matches of all patterns
/// are pooled and overlapping or touching spans merged, so a token inside a larger match
/// (a key inside `password=…`) yields one placeholder, named after the match that starts
/// first. Returns the text and how many placeholders went in.
pub fn redact(text: String) -> (String, usize) {
    let found = find(&text);
    if found.is_empty() {
        return (text, 0);
    }
    let mut merged: Vec<(usize, usize, Pattern)> = Vec::new();
    for f in found {
        match merged.last_mut() {
            Some(last) if f.start <= last.1 => last.1 = last.1.max(f.end),
            _ => merged.push((f.start, f.end, f.pattern)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end, pattern) in &merged {
        out.push_str(&text[copied..*start]);
        out.push_str(placeholder(pattern));
        copied = *end;
    }
    out.push_str(&text[copied..]);
    (out, merged.len())
}

fn placeholder(pattern: &Pattern) -> &'static str {
    COMPILED
        .iter()
        .find(|c| c.pattern.id == pattern.id)
        .map_or("[CREDENTIAL_REDACTED]", |c| c.placeholder.as_str())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn catalogue_is_complete_and_consistent() {
        let all: Vec<Pattern> = patterns().collect();
        assert_eq!(all.len(), 73);
        let ids: HashSet<_> = all.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), all.len());
        assert!(all.iter().all(|p| ["critical", "high", "medium"].contains(&p.severity)));
        assert_eq!(COMPILED.len(), PREFILTER.len());
    }

    #[test]
    fn findings_are_positioned_and_redaction_merges_them() {
        let text = "aws AKIAIOSFODNN7EXAMPLE and password=hunter2hunter2";
        let found = find(text);
        let ids: Vec<&str> = found.iter().map(|f| f.pattern.id).collect();
        assert_eq!(ids, ["aws-access-key", "generic-password"]);
        assert_eq!(&text[found[0].start..found[0].end], "AKIAIOSFODNN7EXAMPLE");
        let (redacted, n) = redact(text.to_owned());
        assert_eq!(n, 2);
        assert_eq!(
            redacted,
            "aws [AWS ACCESS KEY ID_REDACTED] and [PASSWORD ASSIGNMENT_REDACTED]"
        );
        assert_eq!(redact("nothing here".to_owned()), ("nothing here".to_owned(), 0));
    }
}
