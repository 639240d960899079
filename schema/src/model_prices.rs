use bigdecimal::BigDecimal;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::model_price_overrides;

/// The project's price overrides: (model, input USD/token, output USD/token).
pub async fn for_project(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
) -> QueryResult<Vec<(String, BigDecimal, BigDecimal)>> {
    model_price_overrides::table
        .filter(model_price_overrides::project_id.eq(project_id))
        .select((
            model_price_overrides::model_name,
            model_price_overrides::input_cost_per_token,
            model_price_overrides::output_cost_per_token,
        ))
        .load(conn)
        .await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = model_price_overrides)]
pub struct Override {
    pub id: Uuid,
    pub project_id: Uuid,
    pub model_name: String,
    pub input_cost_per_token: BigDecimal,
    pub output_cost_per_token: BigDecimal,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<Override>> {
    model_price_overrides::table
        .filter(model_price_overrides::project_id.eq(project_id))
        .order(model_price_overrides::model_name.asc())
        .select(Override::as_select())
        .load(conn)
        .await
}

pub async fn upsert(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    model: &str,
    input: &BigDecimal,
    output: &BigDecimal,
) -> QueryResult<Override> {
    diesel::insert_into(model_price_overrides::table)
        .values((
            model_price_overrides::project_id.eq(project_id),
            model_price_overrides::model_name.eq(model),
            model_price_overrides::input_cost_per_token.eq(input),
            model_price_overrides::output_cost_per_token.eq(output),
        ))
        .on_conflict((model_price_overrides::project_id, model_price_overrides::model_name))
        .do_update()
        .set((
            model_price_overrides::input_cost_per_token.eq(input),
            model_price_overrides::output_cost_per_token.eq(output),
        ))
        .returning(Override::as_returning())
        .get_result(conn)
        .await
}

pub async fn delete(conn: &mut AsyncPgConnection, project_id: Uuid, model: &str) -> QueryResult<usize> {
    diesel::delete(
        model_price_overrides::table
            .filter(model_price_overrides::project_id.eq(project_id))
            .filter(model_price_overrides::model_name.eq(model)),
    )
    .execute(conn)
    .await
}
