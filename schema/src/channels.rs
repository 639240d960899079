//! Notification channels: where alerts for a project are sent.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::schema::notification_channels as channels;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct Channel {
    pub id: Uuid,
    pub project_id: Uuid,
    pub channel_type: String,
    pub name: String,
    pub config: serde_json::Value,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Insertable, AsChangeset)]
#[diesel(table_name = channels)]
pub struct ChannelFields {
    pub channel_type: Option<String>,
    pub name: Option<String>,
    pub config: Option<serde_json::Value>,
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

pub async fn create(conn: &mut AsyncPgConnection, project_id: Uuid, f: &ChannelFields) -> QueryResult<Channel> {
    diesel::insert_into(channels::table)
        .values((channels::project_id.eq(project_id), f))
        .returning(Channel::as_returning())
        .get_result(conn)
        .await
}

pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<Channel>> {
    channels::table
        .filter(channels::project_id.eq(project_id))
        .order(channels::created_at.desc())
        .select(Channel::as_select())
        .load(conn)
        .await
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    id: Uuid,
    f: &ChannelFields,
) -> QueryResult<Option<Channel>> {
    diesel::update(channels::table.filter(channels::project_id.eq(project_id)).find(id))
        .set((f, channels::updated_at.eq(diesel::dsl::now)))
        .returning(Channel::as_returning())
        .get_result(conn)
        .await
        .optional()
}

pub async fn delete(conn: &mut AsyncPgConnection, project_id: Uuid, id: Uuid) -> QueryResult<usize> {
    diesel::delete(channels::table.filter(channels::project_id.eq(project_id)).find(id))
        .execute(conn)
        .await
}
