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
