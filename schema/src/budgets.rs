//! Budgets (cost and iteration) and the aggregates the monitor checks.

use bigdecimal::BigDecimal;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Numeric, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::{budgets, halts, projects};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = budgets)]
pub struct Budget {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub scope: String,
    pub scope_value: Option<String>,
    pub max_spend_usd: Option<BigDecimal>,
    pub spent_usd: BigDecimal,
    pub soft_limit_ratio: Option<BigDecimal>,
    pub max_repeated_calls: Option<i32>,
    pub loop_window_seconds: Option<BigDecimal>,
    pub budget_duration: Option<String>,
    pub window_type: String,
    pub budget_reset_at: Option<DateTime<Utc>>,
    pub last_evaluated_at: Option<DateTime<Utc>>,
    pub current_count: i32,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = budgets)]
pub struct NewBudget {
    pub project_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub scope: String,
    pub scope_value: Option<String>,
    pub max_spend_usd: Option<BigDecimal>,
    pub soft_limit_ratio: Option<BigDecimal>,
    pub max_repeated_calls: Option<i32>,
    pub loop_window_seconds: Option<BigDecimal>,
    pub budget_duration: Option<String>,
    pub window_type: String,
    pub budget_reset_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = budgets)]
pub struct BudgetChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub max_spend_usd: Option<Option<BigDecimal>>,
    pub soft_limit_ratio: Option<Option<BigDecimal>>,
    pub max_repeated_calls: Option<Option<i32>>,
    pub loop_window_seconds: Option<Option<BigDecimal>>,
    pub is_active: Option<bool>,
}

pub async fn insert(conn: &mut AsyncPgConnection, b: &NewBudget) -> QueryResult<Budget> {
    diesel::insert_into(budgets::table)
        .values(b)
        .returning(Budget::as_returning())
        .get_result(conn)
        .await
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    include_inactive: bool,
    limit: i64,
) -> QueryResult<Vec<Budget>> {
    let mut q = budgets::table.filter(budgets::project_id.eq(project_id)).into_boxed();
    if !include_inactive {
        q = q.filter(budgets::is_active.eq(true));
    }
    q.order((budgets::created_at.desc(), budgets::id.desc()))
        .limit(limit)
        .select(Budget::as_select())
        .load(conn)
        .await
}

pub async fn find(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Budget>> {
    budgets::table
        .filter(budgets::project_id.eq(project_id))
        .find(id)
        .select(Budget::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    id: Uuid,
    c: &BudgetChanges,
) -> QueryResult<Option<Budget>> {
    diesel::update(budgets::table.filter(budgets::project_id.eq(project_id)).find(id))
        .set((c, budgets::updated_at.eq(diesel::dsl::now)))
        .returning(Budget::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn delete(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<Option<Budget>> {
    diesel::delete(budgets::table.filter(budgets::project_id.eq(project_id)).find(id))
        .returning(Budget::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Active budgets of live projects, least recently evaluated first.
pub async fn due(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Budget>> {
    budgets::table
        .inner_join(projects::table)
        .filter(projects::deleted_at.is_null())
        .filter(budgets::is_active.eq(true))
        .order((budgets::last_evaluated_at.asc().nulls_first(), budgets::id.asc()))
        .limit(limit)
        .select(Budget::as_select())
        .load(conn)
        .await
}

/// The span filter a budget's scope means: an agent budget matches the
/// span's agent id or its agent name (SDK spans rarely carry an id).
const SCOPE_FILTER: &str = "AND (($3::text = 'project') \
     OR ($3 = 'agent' AND (agent_id = $4 OR agent_name = $4)) \
     OR ($3 = 'model' AND request_model = $4))";

#[derive(QueryableByName)]
struct Spend {
    #[diesel(sql_type = Nullable<Numeric>)]
    total: Option<BigDecimal>,
}

/// USD spent by spans that ended at or after `since_ns`.
pub async fn spend_since(conn: &mut AsyncPgConnection, b: &Budget, since_ns: i64) -> QueryResult<BigDecimal> {
    let row: Spend = diesel::sql_query(format!(
        "SELECT sum(cost_usd) AS total FROM spans WHERE project_id = $1 AND cost_usd IS NOT NULL \
         AND end_time_unix_nano >= $2 {SCOPE_FILTER}"
    ))
    .bind::<SqlUuid, _>(b.project_id)
    .bind::<BigInt, _>(since_ns)
    .bind::<Text, _>(&b.scope)
    .bind::<Nullable<Text>, _>(&b.scope_value)
    .get_result(conn)
    .await?;
    Ok(row.total.unwrap_or_default())
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Tool calls that started at or after `since_ns`.
pub async fn tool_calls_since(conn: &mut AsyncPgConnection, b: &Budget, since_ns: i64) -> QueryResult<i64> {
    let row: Count = diesel::sql_query(format!(
        "SELECT count(*) AS n FROM spans WHERE project_id = $1 AND tool_name IS NOT NULL \
         AND start_time_unix_nano >= $2 {SCOPE_FILTER}"
    ))
    .bind::<SqlUuid, _>(b.project_id)
    .bind::<BigInt, _>(since_ns)
    .bind::<Text, _>(&b.scope)
    .bind::<Nullable<Text>, _>(&b.scope_value)
    .get_result(conn)
    .await?;
    Ok(row.n)
}

/// Stores what the monitor saw.
pub async fn record_evaluation(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    spent: Option<&BigDecimal>,
    count: Option<i32>,
    reset_at: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    #[derive(AsChangeset)]
    #[diesel(table_name = budgets)]
    struct Seen<'a> {
        spent_usd: Option<&'a BigDecimal>,
        current_count: Option<i32>,
        budget_reset_at: Option<DateTime<Utc>>,
        last_evaluated_at: DateTime<Utc>,
    }
    let seen = Seen {
        spent_usd: spent,
        current_count: count,
        budget_reset_at: reset_at,
        last_evaluated_at: Utc::now(),
    };
    diesel::update(budgets::table.find(id)).set(&seen).execute(conn).await?;
    Ok(())
}

/// Whether the monitor currently holds a halt for this budget.
pub async fn monitor_halt_active(conn: &mut AsyncPgConnection, budget_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        halts::table
            .filter(halts::budget_id.eq(budget_id))
            .filter(halts::cleared_at.is_null()),
    ))
    .get_result(conn)
    .await
}

/// Clears the monitor's own halt for a budget (never an operator's).
pub async fn clear_monitor_halt(conn: &mut AsyncPgConnection, budget_id: Uuid) -> QueryResult<usize> {
    diesel::update(
        halts::table
            .filter(halts::budget_id.eq(budget_id))
            .filter(halts::actor.eq("budget_monitor"))
            .filter(halts::cleared_at.is_null()),
    )
    .set(halts::cleared_at.eq(diesel::dsl::now))
    .execute(conn)
    .await
}
