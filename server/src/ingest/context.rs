//! Per-project ingest context (redaction rules, price overrides), cached
//! for a few seconds so the hot path does not query settings per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strathon_schema::{model_prices, policies, settings, DbPool};
use uuid::Uuid;

use super::pricing::Prices;
use super::redaction::RedactionConfig;
use crate::error::ApiError;
use crate::policy::CompiledPolicy;

pub struct ProjectContext {
    pub redaction: RedactionConfig,
    pub prices: Prices,
    /// Enabled policies, compiled, in evaluation order.
    pub policies: Vec<CompiledPolicy>,
}

/// Edits made through this process apply at once (`invalidate`); edits made
/// elsewhere within `TTL`.
const TTL: Duration = Duration::from_secs(5);

pub struct ContextCache {
    credential_scan: bool,
    entries: Mutex<HashMap<Uuid, (Instant, Arc<ProjectContext>)>>,
}

impl ContextCache {
    pub fn new(credential_scan: bool) -> Self {
        ContextCache {
            credential_scan,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, pool: &DbPool, project_id: Uuid) -> Result<Arc<ProjectContext>, ApiError> {
        if let Some((at, ctx)) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&project_id) {
            if at.elapsed() < TTL {
                return Ok(ctx.clone());
            }
        }
        let mut conn = pool.get().await?;
        let r = settings::redaction(&mut conn, project_id).await?;
        let prices = model_prices::for_project(&mut conn, project_id)
            .await?
            .into_iter()
            .map(|(model, input, output)| (model, (input, output)))
            .collect();
        let policies = policies::list(&mut conn, project_id)
            .await?
            .into_iter()
            .filter_map(CompiledPolicy::from_row)
            .collect();
        let ctx = Arc::new(ProjectContext {
            redaction: RedactionConfig::from_settings(
                r.pii_redaction_enabled,
                self.credential_scan,
                &r.pii_redaction_patterns,
                &r.pii_redaction_strategy,
                &r.pii_redaction_key_actions,
                &r.pii_attribute_allowlist,
            ),
            prices,
            policies,
        });
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(project_id, (Instant::now(), ctx.clone()));
        Ok(ctx)
    }

    pub fn invalidate(&self, project_id: Uuid) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&project_id);
    }
}
