//! The agent inventory: which agents ran, what tools and models they used,
//! what governs them and how exposed they look. `GET /v1/agents` lists it;
//! `GET /v1/agents/inventory` renders it as an AI bill of materials, in
//! JSON or as a CycloneDX 1.5 document (built with the `cyclonedx-bom`
//! crate, so the output follows the specification's model).

use std::collections::BTreeMap;

use cyclonedx_bom::models::bom::{Bom, SpecVersion, UrnUuid};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::service::{Service, Services};
use cyclonedx_bom::models::tool::Tools;
use cyclonedx_bom::validation::Validate as _;
use strathon_schema::analytics::AgentActivity;
use strathon_schema::budgets::Budget;
use strathon_schema::policies::Policy;
use uuid::Uuid;

use crate::policy::analysis::SENSITIVE_TOOLS;

/// How well an agent is governed.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Enabled policies that can apply to it.
    pub covering: usize,
    pub has_budget: bool,
    pub has_approval: bool,
    /// `high`, `medium` or `low`.
    pub risk: &'static str,
    pub factors: Vec<&'static str>,
}

/// `high`: nothing covers it, or sensitive tools without a block or throttle
/// policy; `medium`: sensitive tools without an approval policy, or no
/// budget; else `low`.
pub fn assess(agent: &AgentActivity, policies: &[Policy], budgets: &[Budget]) -> Assessment {
    let covering: Vec<&Policy> = policies
        .iter()
        .filter(|p| p.enabled)
        .filter(|p| {
            p.applies_to.is_empty()
                || p.applies_to.contains(&agent.agent_name)
                || p.match_expression.contains(&agent.agent_name)
        })
        .collect();
    let sensitive = agent.tools_used.iter().any(|t| SENSITIVE_TOOLS.contains(&t.as_str()));
    let guarded = covering
        .iter()
        .any(|p| matches!(p.action.as_str(), "block" | "throttle"));
    let has_approval = covering.iter().any(|p| p.action == "require_approval");
    let has_budget = budgets
        .iter()
        .any(|b| b.scope == "project" || b.scope_value.as_deref() == Some(agent.agent_name.as_str()));
    let mut factors = Vec::new();
    if covering.is_empty() {
        factors.push("no policy covers this agent");
    }
    if sensitive && !guarded {
        factors.push("sensitive tools without a block or throttle policy");
    }
    if sensitive && !has_approval {
        factors.push("sensitive tools without human approval");
    }
    if !has_budget {
        factors.push("no budget");
    }
    let risk = if covering.is_empty() || (sensitive && !guarded) {
        "high"
    } else if (sensitive && !has_approval) || !has_budget {
        "medium"
    } else {
        "low"
    };
    Assessment {
        covering: covering.len(),
        has_budget,
        has_approval,
        risk,
        factors,
    }
}

/// The project the inventory describes.
pub struct Subject<'a> {
    pub project_id: Uuid,
    pub project_name: &'a str,
}

/// Which agents use each tool or model, by name.
fn users<'a>(
    agents: &'a [(AgentActivity, Assessment)],
    of: impl Fn(&'a AgentActivity) -> &'a [String],
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, _) in agents {
        for item in of(a) {
            by.entry(item.as_str()).or_default().push(a.agent_name.as_str());
        }
    }
    by
}

pub fn json(subject: &Subject, agents: &[(AgentActivity, Assessment)], days: i64) -> serde_json::Value {
    let list = |by: BTreeMap<&str, Vec<&str>>| -> Vec<serde_json::Value> {
        by.into_iter()
            .map(|(name, used_by)| serde_json::json!({"name": name, "agents": used_by}))
            .collect()
    };
    serde_json::json!({
        "generated_at": chrono::Utc::now().to_rfc3339(),
        "project_id": subject.project_id,
        "project_name": subject.project_name,
        "lookback_days": days,
        "agent_count": agents.len(),
        "agents": agents.iter().map(|(a, x)| serde_json::json!({
            "agent_name": a.agent_name,
            "first_seen": crate::api::params::iso(a.first_seen),
            "last_active": crate::api::params::iso(a.last_active),
            "total_spans": a.total_spans,
            "total_cost_usd": a.total_cost_usd.normalized().to_plain_string(),
            "total_tool_calls": a.total_tool_calls,
            "interventions": a.interventions,
            "tools": a.tools_used,
            "models": a.models_used,
            "policies_covering": x.covering,
            "has_budget": x.has_budget,
            "has_approval_policy": x.has_approval,
            "risk_score": x.risk,
            "risk_factors": x.factors,
        })).collect::<Vec<_>>(),
        "tools": list(users(agents, |a| &a.tools_used)),
        "models": list(users(agents, |a| &a.models_used)),
    })
}

fn prop(name: &str, value: impl ToString) -> Property {
    Property::new(format!("strathon:{name}"), &value.to_string())
}

fn unversioned(kind: Classification, name: &str, bom_ref: String) -> Component {
    let mut c = Component::new(kind, name, "", Some(bom_ref));
    c.version = None;
    c
}

/// The inventory as a CycloneDX 1.5 JSON document: the project is the
/// subject, each agent an application that depends on the models
/// (machine-learning-model components) and tools (services) it used.
pub fn cyclonedx(subject: &Subject, agents: &[(AgentActivity, Assessment)]) -> Result<Vec<u8>, String> {
    let project_ref = format!("project:{}", subject.project_id);
    let agent_ref = |name: &str| format!("agent:{name}");
    let model_ref = |name: &str| format!("model:{name}");
    let tool_ref = |name: &str| format!("tool:{name}");

    let mut metadata = Metadata::new().map_err(|e| e.to_string())?;
    metadata.tools = Some(Tools::Object {
        services: None,
        components: Some(Components(vec![Component::new(
            Classification::Application,
            "strathon",
            env!("CARGO_PKG_VERSION"),
            None,
        )])),
    });
    let mut project = unversioned(Classification::Application, subject.project_name, project_ref.clone());
    project.properties = Some(Properties(vec![prop("project_id", subject.project_id)]));
    metadata.component = Some(project);

    let mut components = Vec::new();
    let mut dependencies = vec![Dependency {
        dependency_ref: project_ref,
        dependencies: agents.iter().map(|(a, _)| agent_ref(&a.agent_name)).collect(),
    }];
    for (a, x) in agents {
        let mut c = unversioned(Classification::Application, &a.agent_name, agent_ref(&a.agent_name));
        let mut props = vec![
            prop("kind", "ai-agent"),
            prop("risk_score", x.risk),
            prop("total_spans", a.total_spans),
            prop("total_tool_calls", a.total_tool_calls),
            prop("total_cost_usd", a.total_cost_usd.normalized().to_plain_string()),
            prop("interventions", a.interventions),
            prop("policies_covering", x.covering),
            prop("has_budget", x.has_budget),
            prop("has_approval_policy", x.has_approval),
            prop("first_seen", crate::api::params::iso(a.first_seen)),
            prop("last_active", crate::api::params::iso(a.last_active)),
        ];
        props.extend(x.factors.iter().map(|f| prop("risk_factor", f)));
        c.properties = Some(Properties(props));
        components.push(c);
        let mut uses: Vec<String> = a.models_used.iter().map(|m| model_ref(m)).collect();
        uses.extend(a.tools_used.iter().map(|t| tool_ref(t)));
        dependencies.push(Dependency {
            dependency_ref: agent_ref(&a.agent_name),
            dependencies: uses,
        });
    }
    let models = users(agents, |a| &a.models_used);
    for model in models.keys() {
        components.push(unversioned(
            Classification::MachineLearningModel,
            model,
            model_ref(model),
        ));
        dependencies.push(Dependency {
            dependency_ref: model_ref(model),
            dependencies: Vec::new(),
        });
    }
    let tools = users(agents, |a| &a.tools_used);
    let services: Vec<Service> = tools
        .iter()
        .map(|(tool, used_by)| {
            let mut s = Service::new(tool, Some(tool_ref(tool)));
            let mut props = vec![prop("kind", "agent-tool")];
            if SENSITIVE_TOOLS.contains(tool) {
                props.push(prop("sensitive", true));
            }
            props.extend(used_by.iter().map(|a| prop("used_by", a)));
            s.properties = Some(Properties(props));
            s
        })
        .collect();
    for tool in tools.keys() {
        dependencies.push(Dependency {
            dependency_ref: tool_ref(tool),
            dependencies: Vec::new(),
        });
    }

    let bom = Bom {
        spec_version: SpecVersion::V1_5,
        version: 1,
        serial_number: Some(UrnUuid::generate()),
        metadata: Some(metadata),
        components: Some(Components(components)),
        services: (!services.is_empty()).then_some(Services(services)),
        dependencies: Some(Dependencies(dependencies)),
        ..Bom::default()
    };
    let report = bom.validate_version(SpecVersion::V1_5);
    if !report.passed() {
        return Err(format!("the CycloneDX document does not validate: {report:?}"));
    }
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bigdecimal::BigDecimal;

    fn agent(name: &str, tools: &[&str], models: &[&str]) -> AgentActivity {
        AgentActivity {
            agent_name: name.into(),
            first_seen: 1_700_000_000_000_000_000,
            last_active: 1_700_000_360_000_000_000,
            total_spans: 12,
            total_cost_usd: BigDecimal::from(3),
            total_tool_calls: 5,
            tools_used: tools.iter().map(|t| t.to_string()).collect(),
            models_used: models.iter().map(|m| m.to_string()).collect(),
            interventions: 1,
        }
    }

    #[test]
    fn uncovered_agents_with_sensitive_tools_are_high_risk() {
        let x = assess(&agent("ops", &["shell_exec"], &[]), &[], &[]);
        assert_eq!(x.risk, "high");
        assert_eq!(
            x.factors,
            [
                "no policy covers this agent",
                "sensitive tools without a block or throttle policy",
                "sensitive tools without human approval",
                "no budget"
            ]
        );
    }

    #[test]
    fn the_bill_of_materials_links_agents_to_models_and_tools() {
        let agents = vec![
            (
                agent("researcher", &["search"], &["gpt-4o"]),
                assess(&agent("researcher", &["search"], &["gpt-4o"]), &[], &[]),
            ),
            (
                agent(
                    "ops",
                    &["shell_exec", "search"],
                    &["gpt-4o", "claude-3-5-haiku-20241022"],
                ),
                assess(&agent("ops", &["shell_exec"], &[]), &[], &[]),
            ),
        ];
        let subject = Subject {
            project_id: Uuid::nil(),
            project_name: "default",
        };
        let doc: serde_json::Value = serde_json::from_slice(&cyclonedx(&subject, &agents).unwrap()).unwrap();
        assert_eq!(doc["bomFormat"], "CycloneDX");
        assert_eq!(doc["specVersion"], "1.5");
        let types: Vec<(&str, &str)> = doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["type"].as_str().unwrap(), c["name"].as_str().unwrap()))
            .collect();
        assert!(types.contains(&("application", "ops")));
        assert!(types.contains(&("machine-learning-model", "gpt-4o")));
        assert_eq!(doc["services"].as_array().unwrap().len(), 2);
        let ops = doc["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ref"] == "agent:ops")
            .unwrap();
        assert_eq!(ops["dependsOn"].as_array().unwrap().len(), 4);
        let json = json(&subject, &agents, 30);
        assert_eq!(
            json["tools"][0],
            serde_json::json!({"name": "search", "agents": ["researcher", "ops"]})
        );
    }
}
